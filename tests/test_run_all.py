"""The whole suite in one command: smoke profile on small IDX data, report and figures."""

from __future__ import annotations

import json
from pathlib import Path

from experiments import run_all


def test_smoke_suite_builds_a_report_naming_every_figure(smoke_suite: dict) -> None:
    out_dir = smoke_suite["out_dir"]
    assert smoke_suite["ran"] == list(run_all.EXPERIMENTS)
    markdown = smoke_suite["markdown"].read_text()
    page = smoke_suite["report"].read_text()
    figures = []
    for experiment in run_all.EXPERIMENTS:
        summary = json.loads((out_dir / experiment / "version_0" / "summary.json").read_text())
        assert summary["settings"]["profile"] == "smoke"
        assert f"## {experiment}" in markdown and f"<h2>{experiment}</h2>" in page
        figures += [Path(f) for f in summary["figures"]]
    assert len(figures) >= 15
    for figure in figures:
        data = figure.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and b"IEND" in data[-12:]
        assert f"({Path('..') / figure.relative_to(out_dir)})" in markdown
        assert figure.name in page
    assert "tensorboard --logdir" in markdown
    output = smoke_suite["output"]
    assert "[experiment 1/10 simulate_function: starting, 00:00:00 elapsed]" in output
    assert "[experiment 10/10 sharpness, run 5: bs128," in output

    again = run_all.main([*smoke_suite["flags"], "--resume"])
    assert again["ran"] == [] and again["skipped"] == list(run_all.EXPERIMENTS)


def test_the_report_shows_the_settings_that_differ_between_runs(smoke_suite: dict) -> None:
    markdown = smoke_suite["markdown"].read_text()
    sharpness = markdown[markdown.index("## sharpness") :]
    assert not any(line.startswith("| batch_size |") for line in sharpness.splitlines())  # not a shared setting
    header = next(line for line in sharpness.splitlines() if line.startswith("| name |"))
    assert "batch_size" in header
    pca = markdown[markdown.index("## optimization_pca") : markdown.index("## grad_norm")]
    assert "init_seed" in next(line for line in pca.splitlines() if line.startswith("| name |"))


def test_run_all_passes_every_shared_flag_on_to_the_experiments_that_take_it(
    tiny_mnist: Path, tmp_path: Path, capsys
) -> None:
    outcome = run_all.main(["--profile", "smoke", "--only", "minimal_ratio", "random_labels", "--accelerator", "cpu",
                            "--data-dir", str(tiny_mnist), "--out-dir", str(tmp_path), "--precision", "32-true",
                            "--deterministic", "--log-every-n-steps", "2", "--seed", "4"])  # fmt: skip
    assert outcome["ran"] == ["minimal_ratio", "random_labels"]
    printed = capsys.readouterr().out
    assert "[experiment 1/2 minimal_ratio: takes no --precision, --deterministic, --data-dir, --log-every-n-steps;" in printed
    (run,) = json.loads((tmp_path / "random_labels" / "version_0" / "summary.json").read_text())["runs"]
    assert run["settings"]["deterministic"] is True and run["settings"]["init_seed"] == 4
    ratio = json.loads((tmp_path / "minimal_ratio" / "version_0" / "summary.json").read_text())
    assert ratio["runs"][0]["settings"]["init_seed"] == 4
