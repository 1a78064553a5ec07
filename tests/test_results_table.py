"""docs/results.md's table comes from reports: experiments/results_table.py reads report.md files and writes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiments import results_table, run_all
from hw1.reporting.results_table import BEGIN, END, read_report
from hw1.reporting.verdicts import DESCRIPTIVE, MIXED, NOT_MEASURABLE, NOT_SUPPORTED, SUPPORTED


def test_the_results_table_is_written_from_reports(smoke_suite: dict, tmp_path: Path) -> None:
    report = smoke_suite["markdown"]
    facts, verdicts = read_report(report)
    assert facts["profile"] == "smoke" and "torch" in facts and "git commit" in facts
    assert len(verdicts) == len(run_all.EXPERIMENTS) and all(cell.startswith("**") for cell in verdicts.values())
    outcomes = {SUPPORTED, NOT_SUPPORTED, MIXED, NOT_MEASURABLE, DESCRIPTIVE}
    assert {cell.split("**")[1] for cell in verdicts.values()} <= outcomes  # the verdicts, not the time table below
    document = tmp_path / "results.md"
    document.write_text(f"# Results\n\nbefore\n\n{BEGIN}\nstale table\n{END}\n\nafter\n")
    results_table.main(["--report", f"first={report}", "--report", f"second={report}", "--write", str(document)])
    text = document.read_text()
    assert text.startswith("# Results\n\nbefore\n\n") and text.endswith(f"{END}\n\nafter\n") and "stale" not in text
    assert "- **first**: profile smoke; device " in text and "| experiment | first | second |" in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith(("| experiment", "| ---"))]
    assert len(rows) == len(run_all.EXPERIMENTS) and all(line.count(" | **") == 2 for line in rows)
    assert verdicts["sharpness"] in next(line for line in rows if line.startswith("| sharpness |"))


def test_a_report_that_is_not_there_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="give LABEL=PATH of a report.md"):
        results_table.main(["--report", f"x={tmp_path / 'missing.md'}"])
