"""The whole suite in one command: smoke profile on small IDX data, report and figures."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import lightning as L
import pytest
import torch

from experiments import run_all
from hw1.runs.errors import UsageError


def test_smoke_suite_builds_a_report_naming_every_figure(smoke_suite: dict) -> None:
    out_dir = smoke_suite["out_dir"]
    assert smoke_suite["ran"] == list(run_all.EXPERIMENTS)
    markdown = smoke_suite["markdown"].read_text()
    page = smoke_suite["report"].read_text()
    figures = []
    for experiment in run_all.EXPERIMENTS:
        summary = json.loads((out_dir / experiment / "version_0" / "summary.json").read_text())
        assert summary["settings"]["profile"] == "smoke"
        assert f"## {experiment}" in markdown and f"<h2 id='{experiment}'>{experiment}</h2>" in page
        figures += [Path(f) for f in summary["figures"]]
    assert len(figures) >= 15
    for figure in figures:
        data = figure.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and b"IEND" in data[-12:]
        assert f"({Path('..') / figure.relative_to(out_dir)})" in markdown
        assert figure.name in page
        data = figure.with_suffix(".json")
        assert json.loads(data.read_text()) and f"Data: [{data.name}]({Path('..') / data.relative_to(out_dir)})" in markdown
        assert f"<a href='{Path('..') / data.relative_to(out_dir)}'>{data.name}</a>" in page
    assert "tensorboard --logdir" in markdown
    environment = json.loads((out_dir / "sharpness" / "version_0" / "summary.json").read_text())["environment"]
    assert environment["torch"] == torch.__version__ and environment["lightning"] == L.__version__
    assert environment["device"].startswith("CPU (")
    assert f"| torch | {torch.__version__} |" in markdown and f"| lightning | {L.__version__} |" in markdown
    assert f"| device | {environment['device']} |" in markdown and "| profile | smoke |" in markdown
    assert "| wall time of the suite | 00:" in markdown
    assert f"({len(run_all.EXPERIMENTS)} experiments trained, 0 skipped as finished) |" in markdown
    lines = smoke_suite["output"].splitlines()
    total = len(run_all.EXPERIMENTS)
    assert lines[0] == f"[experiment 1/{total} simulate_function, 00:00:00 elapsed]"
    sharpness = lines.index(next(line for line in lines if line.startswith(f"[experiment 10/{total} sharpness, ")))
    assert lines[sharpness + 5].startswith("bs128: 1 epoch, 2 steps, no target, ")  # each run's line as it finishes
    hessian = lines.index(next(line for line in lines if line.startswith(f"[experiment 11/{total} hessian_spectrum, ")))
    assert lines[hessian + 5].startswith("bs128: λ1 ")  # the analyses print a line for each minimum
    assert any(line.startswith("through_small_batch_large_batch_large_lr: 11×11 grid; ") for line in lines)

    again = run_all.main([*smoke_suite["flags"], "--resume"])
    assert again["ran"] == [] and again["skipped"] == list(run_all.EXPERIMENTS)


def test_the_report_shows_the_settings_that_differ_between_runs(smoke_suite: dict) -> None:
    markdown = smoke_suite["markdown"].read_text()
    sharpness = markdown[markdown.index("## sharpness") : markdown.index("## hessian_spectrum")]
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
                            "--deterministic", "--log-every-n-steps", "2", "--seed", "4", "--jobs", "2",
                            "--seeds", "2"])  # fmt: skip
    assert outcome["ran"] == ["minimal_ratio", "random_labels"]
    printed = capsys.readouterr().out
    (left_out,) = [line for line in printed.splitlines() if line.startswith("[experiment 1/2 minimal_ratio: takes no ")]
    assert left_out.endswith("; not passed on]")
    assert set(left_out[len("[experiment 1/2 minimal_ratio: takes no "):-len("; not passed on]")].split(", ")) == {
        "--precision", "--deterministic", "--data-dir", "--log-every-n-steps", "--jobs", "--seeds"}
    summary = json.loads((tmp_path / "random_labels" / "version_0" / "summary.json").read_text())
    assert [run["settings"]["init_seed"] for run in summary["runs"]] == [4, 5]
    assert all(run["settings"]["deterministic"] is True for run in summary["runs"])
    assert summary["timing"]["jobs"] == 2 and (tmp_path / "random_labels" / "version_0" / ".jobs" / "job1.log").is_file()
    ratio = json.loads((tmp_path / "minimal_ratio" / "version_0" / "summary.json").read_text())
    assert ratio["runs"][0]["settings"]["init_seed"] == 4


def test_report_only_rebuilds_the_report_from_the_summaries_on_disk(smoke_suite: dict, tmp_path: Path) -> None:
    """An edited summary.json shows in the rebuilt report; nothing is trained; training flags are refused."""
    out_dir = tmp_path / "suite"
    shutil.copytree(smoke_suite["out_dir"], out_dir)
    summary_path = out_dir / "sharpness" / "version_0" / "summary.json"
    summary = json.loads(summary_path.read_text())
    summary["runs"][0]["test_acc"] = 0.123456
    summary_path.write_text(json.dumps(summary))
    folders = sorted(str(p.relative_to(out_dir)) for p in out_dir.glob("*/version_*"))
    outcome = run_all.main(["--report-only", "--out-dir", str(out_dir)])
    assert outcome["ran"] == [] and sorted(str(p.relative_to(out_dir)) for p in out_dir.glob("*/version_*")) == folders
    markdown = outcome["markdown"].read_text()
    assert markdown.startswith("# Homework 1 report (smoke profile)")
    assert "| wall time of the suite | not measured (report rebuilt from the summaries) |" in markdown
    assert "| 0.1235 |" in markdown[markdown.index("## sharpness") :]
    with pytest.raises(SystemExit) as refused:
        run_all.main(["--report-only", "--out-dir", str(out_dir), "--max-epochs", "3"])
    assert refused.value.code == 2
    with pytest.raises(UsageError, match="no finished experiment"):
        run_all.main(["--report-only", "--out-dir", str(tmp_path / "empty")])
