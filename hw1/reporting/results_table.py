"""The Results table of docs/results.md, taken from reports (report.md): each experiment's verdict and its checks'
spread, one column per report, under the facts each report states (profile, device, versions, commit)."""

from __future__ import annotations

import re
from pathlib import Path

from hw1.runs.errors import UsageError
from hw1.runs.files import write_text_atomically

BEGIN = "<!-- results table: written by experiments/results_table.py; do not edit by hand -->"
END = "<!-- end of results table -->"
FACTS = ("profile", "device", "torch", "lightning", "git commit", "wall time of the suite")


def read_report(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """A report.md's header facts and, per experiment, its verdict cell: `**outcome**: spread` (per-seed detail left
    to the report)."""
    text = path.read_text()
    if "## Verdicts" not in text:
        raise UsageError(f"{path} is not a report.md of run_all.py (it has no Verdicts section)")
    facts: dict[str, str] = {}
    for line in text[: text.index("## Verdicts")].splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        if len(cells) == 2 and cells[0] in FACTS:
            facts[cells[0]] = cells[1]
    section = text[text.index("## Verdicts") :].split("\n## ", 1)[0]  # up to the next section
    verdicts = {}
    for line in section.splitlines():
        match = re.match(r"\| \[(\w+)\]\(#\w+\) \| ([^|]+) \| (.*) \|$", line)
        if match:
            verdicts[match.group(1)] = f"**{match.group(2).strip()}**: {match.group(3).split(' — ')[0]}"
    return facts, verdicts


def results_table(reports: list[tuple[str, Path]]) -> str:
    """The table (Markdown) of `reports` ((column label, report.md)), with what each was measured on."""
    read = [(label, *read_report(path)) for label, path in reports]
    lines = [f"- **{label}**: " + "; ".join(f"{key} {facts[key]}" for key in FACTS if key in facts)
             for label, facts, _ in read]  # fmt: skip
    names = list(dict.fromkeys(name for _, _, verdicts in read for name in verdicts))
    lines += ["", "| experiment | " + " | ".join(label for label, _, _ in read) + " |", "|" + " --- |" * (len(read) + 1)]
    lines += [f"| {name} | " + " | ".join(verdicts.get(name, "not run") for _, _, verdicts in read) + " |" for name in names]
    return "\n".join(lines) + "\n"


def write_into(document: Path, table: str) -> None:
    """Replace the text between the BEGIN and END markers of `document` with `table`."""
    text = document.read_text() if document.is_file() else ""
    if BEGIN not in text or END not in text:
        raise UsageError(f"{document} has no results block; put the lines {BEGIN!r} and {END!r} where it goes")
    head, rest = text.split(BEGIN, 1)
    write_text_atomically(f"{head}{BEGIN}\n{table}{END}{rest.split(END, 1)[1]}", document)
