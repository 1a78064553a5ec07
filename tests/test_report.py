"""The report: verdict rules fed summaries that pass and fail, the page in a real browser, report.md's links."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from hw1.verdicts import MIXED, NOT_MEASURABLE, NOT_SUPPORTED, SUPPORTED, verdict


def run(name: str, **numbers) -> dict:
    settings = numbers.pop("settings", {})
    return {"name": name, "params": numbers.pop("params", 1000), "epochs": 5, "train_loss": 0.1, "train_acc": 0.9,
            "test_loss": 0.2, "test_acc": 0.9, "settings": {"init_seed": 0, **settings}, **numbers}  # fmt: skip


def summary(runs: list[dict], **settings) -> dict:
    return {"settings": settings, "runs": runs, "figures": []}


def fit(function: str, hidden: list[int], mse: float, seed: int = 0) -> dict:
    return run(f"{function}-{len(hidden)}-seed{seed}", test_loss=mse,
               settings={"function": function, "net_config": {"hidden": hidden}, "init_seed": seed})  # fmt: skip


def test_deep_vs_shallow_rule() -> None:
    good = [fit("sinc", [190], 1e-2), fit("sinc", [5] * 7, 3e-4), fit("sgn_sin", [190], 0.8), fit("sgn_sin", [5] * 7, 0.2)]
    judged = verdict("simulate_function", summary(good), {})
    assert judged.outcome == SUPPORTED and "sinc: grid MSE 0.01 (1 hidden" in judged.text
    bad = good[:3] + [fit("sgn_sin", [5] * 7, 0.9)]
    assert verdict("simulate_function", summary(bad), {}).outcome == NOT_SUPPORTED
    one_depth = [fit("sinc", [190], 1e-2), fit("sinc", [180], 2e-2)]
    assert verdict("simulate_function", summary(one_depth), {}).outcome == NOT_MEASURABLE


def test_rules_over_seeds_say_in_how_many_seeds_they_held() -> None:
    seed0 = [fit("sinc", [190], 1e-2, 0), fit("sinc", [5] * 7, 3e-4, 0)]
    seed1 = [fit("sinc", [190], 1e-2, 1), fit("sinc", [5] * 7, 5e-2, 1)]
    judged = verdict("simulate_function", summary(seed0 + seed1, seeds=2), {})
    assert judged.outcome == MIXED and judged.text.startswith("holds in 1 of 2 seeds")
    assert "seed 0: holds" in judged.text and "seed 1: fails" in judged.text
    assert verdict("simulate_function", summary(seed0 + seed0, seeds=2), {}).outcome == SUPPORTED


def test_mnist_and_random_labels_rules() -> None:
    assert verdict("train_mnist", summary([run("lenet", test_acc=0.991), run("cnn", test_acc=0.97)]), {}).outcome == SUPPORTED
    assert verdict("train_mnist", summary([run("lenet", test_acc=0.975)]), {}).outcome == NOT_SUPPORTED
    shuffled = {"label_mode": "shuffle", "label_fraction": 1.0}
    memorised = run("mlp", train_acc=0.996, test_acc=0.106, test_loss=7.0, settings=shuffled)
    judged = verdict("random_labels", summary([memorised]), {})
    assert judged.outcome == SUPPORTED and "memorised: eval-pass train accuracy 0.9960 ≥ 0.99" in judged.text
    for failing in ({"train_acc": 0.8}, {"test_acc": 0.2}, {"test_loss": 2.0}):
        assert verdict("random_labels", summary([{**memorised, **failing}]), {}).outcome == NOT_SUPPORTED
    true_labels = run("mlp", settings={"label_mode": "true", "label_fraction": 1.0})
    assert verdict("random_labels", summary([true_labels]), {}).outcome == NOT_MEASURABLE


def test_size_sweep_rule() -> None:
    sizes = [run(f"w{w}", params=w * 1000, train_acc=0.9 + w / 1000, test_acc=0.89 + w / 5000) for w in (2, 8, 32, 128)]
    judged = verdict("params_vs_generalization", summary(sizes), {})
    assert judged.outcome == SUPPORTED and "Spearman ρ(parameters, train − test accuracy) = 1.00 over 4 sizes" in judged.text
    narrowing = [run(f"w{w}", params=w * 1000, train_acc=0.95, test_acc=0.8 + w / 1000) for w in (2, 8, 32, 128)]
    assert verdict("params_vs_generalization", summary(narrowing), {}).outcome == NOT_SUPPORTED


@pytest.mark.parametrize("key", ["sharpness", "sensitivity_jacobian"])
def test_batch_size_correlation_rules(key: str) -> None:
    experiment = "sharpness" if key == "sharpness" else "flatness_sensitivity"
    rising = [run(f"bs{b}", batch_size=b, train_loss=0.1, test_loss=0.1 + i / 10, **{key: 0.01 * (i + 1)})
              for i, b in enumerate((16, 64, 256, 1024))]  # fmt: skip
    assert verdict(experiment, summary(rising), {}).outcome == SUPPORTED
    falling = [{**row, key: 1 / (i + 1)} for i, row in enumerate(rising)]
    judged = verdict(experiment, summary(falling), {})
    assert judged.outcome == NOT_SUPPORTED and "= -1.00 over 4 batch sizes" in judged.text


def test_rules_that_read_figure_data() -> None:
    steps = list(range(100))
    falling = {"grad_norm_sinc": {"series": [{"name": "gradient norm", "x": steps, "y": [1 / (s + 1) for s in steps]},
                                             {"name": "loss", "x": steps, "y": [math.exp(-s / 10) for s in steps]}]}}  # fmt: skip
    assert verdict("grad_norm", summary([run("sinc")]), falling).outcome == SUPPORTED
    flat = {"grad_norm_sinc": {"series": [{**s, "y": [1.0] * 100} for s in falling["grad_norm_sinc"]["series"]]}}
    assert verdict("grad_norm", summary([run("sinc")]), flat).outcome == NOT_SUPPORTED
    assert verdict("grad_norm", summary([run("sinc")]), {}).outcome == NOT_MEASURABLE

    alphas = [round(-1 + 0.05 * i, 2) for i in range(61)]
    valley = [0.05 + 0.3 * a * a if a < 0.5 else 0.05 + 1.2 * (a - 1) ** 2 for a in alphas]
    curves = {"interpolation_small_batch_to_large_batch": {"alphas": alphas, "train": {"loss": valley}}}
    judged = verdict("flatness_interpolation", summary([]), curves)
    assert judged.outcome == SUPPORTED, judged.text
    mirrored = {"interpolation_small_batch_to_large_batch": {"alphas": alphas, "train": {"loss": valley[::-1]}}}
    assert verdict("flatness_interpolation", summary([]), mirrored).outcome == NOT_SUPPORTED

    paths = {"pca_whole_model": {"explained_variance_ratio": [0.3, 0.2],
                                 "series": [{"test_acc": [0.1, 0.5, 0.9]}, {"test_acc": [0.1, 0.6, 0.8]}]}}  # fmt: skip
    assert verdict("optimization_pca", summary([]), paths).outcome == SUPPORTED
    paths["pca_whole_model"]["series"][1]["test_acc"] = [0.5, 0.3, 0.2]
    assert verdict("optimization_pca", summary([]), paths).outcome == NOT_SUPPORTED


def test_minimal_ratio_rule() -> None:
    def point(ratio: float) -> dict:
        return run("seed", loss=0.01, minimal_ratio_hessian_nonzero=ratio, minimal_ratio_hessian=ratio / 2, point="critical")

    assert verdict("minimal_ratio", summary([point(r) for r in (0.4, 0.5, 0.55, 0.9)]), {}).outcome == SUPPORTED
    assert verdict("minimal_ratio", summary([point(r) for r in (0.4, 0.8, 0.9, 1.0)]), {}).outcome == NOT_SUPPORTED



def test_double_descent_rule_finds_the_peak_near_n_times_classes() -> None:
    noisy = {"label_mode": "uniform", "label_fraction": 0.2, "train_subset": 1000}  # threshold 10,000 parameters
    errors = {1600: 0.40, 4800: 0.30, 8000: 0.42, 16000: 0.35, 50000: 0.25, 200000: 0.22}
    sizes = [run(f"p{p}", params=p, test_acc=1 - e, train_acc=1.0 if p > 8000 else 0.7, settings=noisy)
             for p, e in errors.items()]  # fmt: skip
    judged = verdict("double_descent", summary(sizes), {})
    assert judged.outcome == SUPPORTED, judged.text
    assert "peaks at 8,000 params (0.420: +0.120 over the best smaller size, +0.200 over the best larger" in judged.text
    assert "interpolation threshold n·classes = 10,000 (1,000 images, 20% noisy labels)" in judged.text
    monotone = [{**row, "test_acc": 0.6 + i / 20} for i, row in enumerate(sizes)]
    judged = verdict("double_descent", summary(monotone), {})
    assert judged.outcome == NOT_SUPPORTED and "no interior peak" in judged.text
    far = [{**row, "params": row["params"] * 100} for row in sizes]  # the peak at 800k, 80× the threshold
    assert verdict("double_descent", summary(far), {}).outcome == NOT_SUPPORTED
    unfitted = [{**row, "train_acc": 0.9} for row in sizes]
    assert verdict("double_descent", summary(unfitted), {}).outcome == NOT_SUPPORTED
    clean = [{**row, "settings": {"label_mode": "true", "label_fraction": 1.0}} for row in sizes]
    assert verdict("double_descent", summary(clean), {}).outcome == NOT_MEASURABLE
    assert verdict("params_vs_generalization", summary(sizes), {}).outcome == NOT_MEASURABLE


def test_hessian_and_surface_rules() -> None:
    rising = [run(f"bs{b}", batch_size=b, lambda_1=2.0 * (i + 1), trace=10.0 * (i + 1), ritz_residuals=[1e-3])
              for i, b in enumerate((16, 64, 256, 1024))]  # fmt: skip
    judged = verdict("hessian_spectrum", summary(rising), {})
    assert judged.outcome == SUPPORTED and "ρ(batch size, λ1) = 1.00 over 4 minima" in judged.text
    falling = [{**row, "lambda_1": 10.0 - i} for i, row in enumerate(rising)]
    assert verdict("hessian_spectrum", summary(falling), {}).outcome == NOT_SUPPORTED

    axis = [i / 10 - 0.5 for i in range(11)]
    bowl = [[0.1 + a * a + 2 * b * b for a in axis] for b in axis]
    surface = {"surface_around_small_batch": {"series": [{"name": "train loss", "x": axis, "y": axis, "z": bowl}]}}
    judged = verdict("loss_surface", summary([]), surface)
    assert judged.outcome == SUPPORTED and judged.text.startswith("train loss 0.1 at the checkpoint")
    assert "0 grid steps" in judged.text
    shifted = [[0.1 + (a - 0.3) ** 2 + 2 * b * b for a in axis] for b in axis]  # the basin's bottom 3 steps away
    surface["surface_around_small_batch"]["series"][0]["z"] = shifted
    assert verdict("loss_surface", summary([]), surface).outcome == NOT_SUPPORTED
    assert verdict("loss_surface", summary([]), {}).outcome == NOT_MEASURABLE

def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if found is None:
        pytest.skip("no Chromium on this machine (Debian: apt-get install chromium; .ci/run installs it)")
    return found


CHECKER = """<!doctype html><html><body><pre id="out">pending</pre><iframe id="page" src="{page}"></iframe><script>
document.getElementById('page').addEventListener('load', () => {{
  const doc = document.getElementById('page').contentDocument;
  document.getElementById('out').textContent = JSON.stringify({{
    images: [...doc.images].map(i => ({{src: i.src, width: i.naturalWidth}})),
    links: [...doc.querySelectorAll('a[href]')].map(a => a.href),
    ids: [...doc.querySelectorAll('[id]')].map(e => e.id)}});
}});
</script></body></html>"""


def test_the_report_renders_in_a_real_browser(smoke_suite: dict, tmp_path: Path) -> None:
    """Headless Chromium loads index.html: every image decodes, every link resolves, nothing on the console."""
    page = smoke_suite["report"].resolve()
    checker = tmp_path / "check.html"
    checker.write_text(CHECKER.format(page=page.as_uri()))
    shown = subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
                            "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000", "--dump-dom",
                            checker.as_uri()], capture_output=True, text=True, timeout=120)  # fmt: skip
    found = json.loads(re.search(r'<pre id="out">(.*?)</pre>', shown.stdout, re.S).group(1).replace("&quot;", '"'))
    assert len(found["images"]) >= 15 and all(image["width"] > 0 for image in found["images"]), found["images"]
    assert len(found["links"]) >= 30
    for link in found["links"]:
        target, _, anchor = link.partition("#")
        if Path(target.removeprefix("file://")) == page:
            assert anchor in found["ids"], link
        else:
            assert target.startswith("file://") and Path(target.removeprefix("file://")).exists(), link
    console = [line for line in shown.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []


def test_report_markdown_links_resolve_and_tables_are_whole(smoke_suite: dict) -> None:
    markdown_path = smoke_suite["markdown"]
    text = markdown_path.read_text()
    headings = {line.lstrip("#").strip().lower().replace(" ", "-") for line in text.splitlines() if line.startswith("#")}
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    assert len(targets) >= 40
    for target in targets:
        if target.startswith("#"):
            assert target[1:] in headings, target
        else:
            assert (markdown_path.parent / target).exists(), target
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("|") and lines[index + 1 : index + 2] and re.fullmatch(r"\|( --- \|)+", lines[index + 1]):
            width = lines[index + 1].count("|")
            row = index + 2
            while row < len(lines) and lines[row].startswith("|"):
                assert len(re.findall(r"(?<!\\)\|", lines[row])) == width, lines[row]
                row += 1
    assert "## Verdicts" in text and "**Verdict: " in text and "**Rule.** " in text
    data = "Data: [sharpness.json](../sharpness/version_0/figures/sharpness.json)"
    assert f"{data}. Runs: [bs8](../sharpness/version_0/bs8), [bs16](" in text
    sinc_loss = next(line for line in lines if line.startswith("loss_sinc.png: "))
    assert "[sinc-shallow](" in sinc_loss and "sgn_sin" not in sinc_loss


def smoke_flags(tiny: Path, out: Path, *flags: str) -> list[str]:
    return ["--profile", "smoke", "--accelerator", "cpu", "--data-dir", str(tiny), "--out-dir", str(out), *flags]


def test_seeds_give_mean_and_spread_in_figures_report_and_verdict(tiny_mnist: Path, tmp_path: Path) -> None:
    """--seeds 2: one run per seed (initial weights and order; same data), error bars = population sd of the two,
    curves = mean with a min–max band, one report row of mean ± sd, and a verdict judged per seed."""
    from statistics import pstdev

    from experiments import random_labels, run_all, sharpness

    rows = sharpness.main(smoke_flags(tiny_mnist, tmp_path, "--seeds", "2", "--batch-sizes", "16", "64", "128"))["rows"]
    assert [row["name"] for row in rows] == ["bs16-seed0", "bs16-seed1", "bs64-seed0", "bs64-seed1", "bs128-seed0",
                                             "bs128-seed1"]  # fmt: skip
    assert [row["settings"]["init_seed"] for row in rows] == [0, 1] * 3 and {r["settings"]["data_seed"] for r in rows} == {0}
    assert rows[0]["test_loss"] != rows[1]["test_loss"]
    drawn = json.loads((tmp_path / "sharpness" / "version_0" / "figures" / "sharpness.json").read_text())["series"][0]
    assert drawn["y"] == pytest.approx([(rows[i]["sharpness"] + rows[i + 1]["sharpness"]) / 2 for i in (0, 2, 4)])
    assert drawn["sd_over_seeds"] == pytest.approx([pstdev([rows[i]["sharpness"], rows[i + 1]["sharpness"]]) for i in (0, 2, 4)])

    results = random_labels.main(smoke_flags(tiny_mnist, tmp_path, "--seeds", "2"))["results"]
    assert [result.name for result in results] == ["mlp-shuffle-seed0", "mlp-shuffle-seed1"]
    curves = json.loads((tmp_path / "random_labels" / "version_0" / "figures" / "loss_accuracy.json").read_text())["series"]
    test_loss = next(series for series in curves if series["tag"] == "test/loss")
    assert test_loss["band"] == "min–max over seeds" and len(test_loss["y"]) == 2
    last = [result.test_loss for result in results]
    assert test_loss["band_min"][-1] == pytest.approx(min(last)) and test_loss["band_max"][-1] == pytest.approx(max(last))
    assert test_loss["y"][-1] == pytest.approx(sum(last) / 2)

    markdown = run_all.main(["--report-only", "--out-dir", str(tmp_path), "--only", "sharpness", "random_labels"])
    text = markdown["markdown"].read_text()
    section = text[text.index("## sharpness") :]
    assert "| name (mean ± sd over seeds) |" in section and "bs16 (seeds: [bs16-seed0](" in section
    mean_acc = (rows[0]["test_acc"] + rows[1]["test_acc"]) / 2
    assert f"{mean_acc:.4g} ± {pstdev([rows[0]['test_acc'], rows[1]['test_acc']]):.2g}" in section
    verdict_line = next(line for line in section.splitlines() if line.startswith("**Verdict: "))
    assert " of 2 seeds — seed 0: " in verdict_line and "; seed 1: " in verdict_line


def test_experiments_without_repeats_refuse_seeds(tiny_mnist: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from experiments import grad_norm, optimization_pca

    for module in (grad_norm, optimization_pca):
        with pytest.raises(SystemExit) as refused:
            module.main(smoke_flags(tiny_mnist, tmp_path, "--seeds", "2"))
        assert refused.value.code == 2
    assert "--seeds has no effect here: its --runs trainings already take the seeds" in capsys.readouterr().err
