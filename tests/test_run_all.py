"""The whole suite in one command: smoke profile on small IDX data, report and figures."""

from __future__ import annotations

import json
from pathlib import Path

from experiments import run_all


def test_smoke_suite_builds_a_report_naming_every_figure(tiny_mnist: Path, tmp_path: Path, capsys) -> None:
    flags = ["--profile", "smoke", "--accelerator", "cpu", "--data-dir", str(tiny_mnist), "--out-dir", str(tmp_path)]
    outcome = run_all.main(flags)
    assert outcome["ran"] == list(run_all.EXPERIMENTS)
    markdown = outcome["markdown"].read_text()
    page = outcome["report"].read_text()
    figures = []
    for experiment in run_all.EXPERIMENTS:
        summary = json.loads((tmp_path / experiment / "summary.json").read_text())
        assert summary["settings"]["profile"] == "smoke"
        assert f"## {experiment}" in markdown and f"<h2>{experiment}</h2>" in page
        figures += [Path(f) for f in summary["figures"]]
    assert len(figures) >= 15
    for figure in figures:
        data = figure.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and b"IEND" in data[-12:]
        assert f"({Path('..') / figure.relative_to(tmp_path)})" in markdown
        assert figure.name in page
    assert "tensorboard --logdir" in markdown
    output = capsys.readouterr().out
    assert "[experiment 1/10 simulate_function: starting, 00:00:00 elapsed]" in output
    assert "[experiment 10/10 sharpness, run 5: bs128," in output

    again = run_all.main([*flags, "--resume"])
    assert again["ran"] == [] and again["skipped"] == list(run_all.EXPERIMENTS)
