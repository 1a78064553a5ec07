"""A readable report of every experiment's summary.json, built once as a `Report` and written as Markdown and as HTML
(a jinja2 template): per experiment the question, the literature's expectation, the rule and its verdict, settings, run
numbers (mean ± sd over seeds), and the figures with what to look at and their data files. The experiments come from the
caller as records (`Reported`: name, expectation, settings shown); this layer never imports them."""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean, pstdev
from typing import Any, Protocol

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from hw1.reporting.plots import data_path
from hw1.reporting.verdicts import Expectation, Verdict, judge_summary
from hw1.runs.console import seconds_text
from hw1.runs.files import write_json_atomically, write_text_atomically
from hw1.runs.results import latest_finished, read_summary

HIDDEN_COLUMNS = {"checkpoint", "log_dir"}
SUITE_SUMMARY = "summary.json"  # the report folder's: each experiment's runs, jobs at once and wall seconds
SEED_SETTINGS = {"init_seed", "order_seed", "steps_per_chunk"}  # differ between the seeds of one run


@dataclass(frozen=True)
class Link:
    text: str
    href: str


Inline = str | Link
Cell = Inline | list[Inline]
Table = tuple[list[str], list[list[Cell]]]  # column names, rows


class Reported(Protocol):
    """What the report needs of an experiment: its name, its rule (None: no verdict) and the settings it shows."""

    @property
    def name(self) -> str: ...

    @property
    def expectation(self) -> Expectation | None: ...

    @property
    def report_settings(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class Figure:
    image: str  # relative to the report folder
    alt: str
    caption: list[Inline]


@dataclass(frozen=True)
class VerdictRow:
    link: Link
    verdict: Verdict | None  # None: the experiment has no finished result folder

    @property
    def outcome(self) -> str:
        return self.verdict.outcome if self.verdict else "not run"

    @property
    def measured(self) -> str:
        return self.verdict.measured if self.verdict else "no finished result folder"


@dataclass(frozen=True)
class Section:
    """One experiment's part of the report; `results` is None when it has no finished result folder."""

    name: str
    expectation: Expectation | None = None
    verdict: Verdict | None = None
    results: list[Inline] | None = None
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    not_run: str = "Not run (no finished result folder)."

    @property
    def ran(self) -> bool:
        return self.results is not None


@dataclass(frozen=True)
class Report:
    """Everything the report shows, in order, with links relative to `<out_dir>/report/`."""

    title: str
    facts: list[list[Cell]]
    tensorboard: list[Inline]
    verdicts: list[VerdictRow]
    times: list[list[Cell]]
    sections: list[Section]
    verdicts_note: str = ("Each verdict is a rule over the numbers in the experiment's summary.json and figure data, "
                          "stated in its section; with several seeds the rule is applied to each seed's runs.")
    verdict_columns: tuple[str, ...] = ("experiment", "verdict", "measured (each seed's numbers: in its section)")
    times_note: str = ("Each experiment's invocation, from claiming its result folder to writing its summary "
                       "(with `--resume`, that invocation's time only):")
    time_columns: tuple[str, ...] = ("experiment", "runs", "jobs at once", "wall time")


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value)


def per_run_settings(runs: list[dict]) -> list[str]:
    """The settings that differ between runs (batch size in a sweep, initial-weight seeds, ...), shown per run."""
    keys = dict.fromkeys(key for run in runs for key in run.get("settings", {}))
    return [key for key in keys if len({json.dumps(run.get("settings", {}).get(key), sort_keys=True) for run in runs}) > 1]


def seed_groups(runs: list[dict]) -> dict[str, list[dict]]:
    """Runs that differ only in their seeds (named `<run>-seed<s>`), grouped under `<run>`, in the order they first
    appear."""
    groups: dict[str, list[dict]] = {}
    for run in runs:
        groups.setdefault(re.sub(r"-seed\d+$", "", run["name"]), []).append(run)
    return groups


def _mean_sd(values: list[Any]) -> str:
    if len(values) == 1 or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return _cell(values[0]) if len({json.dumps(v) for v in values}) == 1 else " / ".join(_cell(v) for v in values)
    return f"{mean(values):.4g} ± {pstdev(values):.2g}"


def run_table(runs: list[dict], result_dir: Path, report_dir: Path) -> tuple[list[str], list[list[Cell]]]:
    """The columns and rows of the runs' numbers and per-run settings; runs repeated over seeds make one row of
    mean ± population sd with a link to each seed's folder."""
    columns = [key for key in (runs[0] if runs else {}) if key not in HIDDEN_COLUMNS
               and not isinstance(runs[0][key], dict | list) and any(r.get(key) is not None for r in runs)]  # fmt: skip
    groups = seed_groups(runs)
    repeated = any(len(group) > 1 for group in groups.values())
    varying = [key for key in per_run_settings(runs) if key not in columns and not (repeated and key in SEED_SETTINGS)]
    rows: list[list[Cell]] = []
    for base, group in groups.items():
        links: list[str | Link] = [run_link(run, result_dir, report_dir) for run in group if run.get("log_dir")]
        name: Cell = links if links else group[0]["name"]
        if repeated:
            separated = [part for index, link in enumerate(links) for part in ([", "] if index else []) + [link]]
            name = [base + " (seeds: ", *separated, ")"] if links else name
        numbers = [_mean_sd([run.get(column) for run in group]) for column in columns if column != "name"]
        settings = [_mean_sd([run["settings"].get(key) for run in group]) for key in varying]
        rows.append([name, *numbers, *settings])
    names = ["name", *[c for c in columns if c != "name"], *varying]
    if repeated:
        names[0] = "name (mean ± sd over seeds)"
    return names, rows


def header(summaries: list[dict], wall_time: str | None) -> list[tuple[str, str]]:
    """What the report was made from: profiles, wall time, devices, versions and git commits of the summaries."""
    environments = [summary.get("environment", {}) for summary in summaries]

    def values(found: list[Any]) -> str:
        return ", ".join(sorted({str(value) for value in found if value is not None})) or "not recorded"

    return [
        ("profile", values([summary["settings"].get("profile") for summary in summaries])),
        ("wall time of the suite", wall_time or "not measured (report rebuilt from the summaries)"),
        ("device", values([env.get("device") for env in environments])),
        ("torch", values([env.get("torch") for env in environments])),
        ("lightning", values([env.get("lightning") for env in environments])),
        ("git commit", values([env.get("git_commit") for env in environments])),
    ]


def _relative(path: str | Path, report_dir: Path) -> str:
    return os.path.relpath(Path(path).resolve(), report_dir.resolve())


def run_link(run: dict, result_dir: Path, report_dir: Path) -> Link:
    """The run's name, linked to its run folder (as the result folder is now)."""
    return Link(run["name"], _relative(located(run["log_dir"], result_dir), report_dir))


def located(recorded: str, result_dir: Path, folder: str = "") -> Path:
    """A path summary.json recorded, found in the result folder as it is now (`<result_dir>/<folder>/<name>`) when the
    out-dir was moved or copied since; else as recorded."""
    moved = result_dir / folder / Path(recorded).name
    return moved if moved.exists() else Path(recorded)


def figure_paths(summary: dict, result_dir: Path) -> list[Path]:
    return [located(figure, result_dir, "figures") for figure in summary["figures"]]


def figure_data(figures: list[Path]) -> dict[str, dict]:
    """Each figure's drawn numbers (its data file), by figure stem; figures whose data file is missing are left out."""
    found = {}
    for figure in figures:
        path = data_path(figure)
        if path.is_file():
            found[Path(figure).stem] = json.loads(path.read_text())
    return found


def timing_rows(summaries: dict[str, dict]) -> list[dict[str, Any]]:
    """Each experiment's runs, jobs at once and wall seconds, as its summary.json records them (`timing`)."""
    rows = []
    for experiment, summary in summaries.items():
        timing = summary.get("timing", {})  # none in a summary written without one: runs counted, time unknown
        rows.append({"experiment": experiment, "runs": timing.get("runs", len(summary["runs"])), "jobs": timing.get("jobs"),
                     "seconds": timing.get("seconds")})  # fmt: skip
    return rows


def _jobs_cell(jobs: int | None) -> str:
    return "–" if jobs is None else str(jobs)


def judged(records: Sequence[Reported], summaries: dict[str, dict], drawn: dict[str, dict[str, dict]]) -> dict[str, Verdict]:
    """The verdict of every finished experiment that has a stated expectation, from its summary and figure data."""
    return {record.name: judge_summary(record.expectation, summaries[record.name], drawn[record.name])
            for record in records if record.expectation is not None and record.name in summaries}  # fmt: skip


def section(record: Reported, summary: dict, verdict: Verdict | None, result_dir: Path, report_dir: Path,
            figures: list[Path], drawn: dict[str, dict]) -> Section:  # fmt: skip
    """One finished experiment's section: its rule and verdict, result folder, settings, runs and figures."""
    settings: list[list[Cell]] = [[key, _cell(summary["settings"][key])] for key in record.report_settings
                                  if summary["settings"].get(key) is not None]  # fmt: skip
    tables: list[Table] = [(["setting", "value"], settings)]
    if summary["runs"]:
        tables.append(run_table(summary["runs"], result_dir, report_dir))
    shown = []
    for figure in figures:
        stem, data_file = Path(figure).stem, data_path(figure)
        words = record.expectation.caption(stem) if record.expectation else ""
        runs = [part for run in drawn_runs(summary["runs"], stem, drawn.get(stem, {}))
                for part in (", ", run_link(run, result_dir, report_dir))]  # fmt: skip
        shown.append(Figure(_relative(figure, report_dir), stem,
                            [f"{Path(figure).name}: {words} " if words else f"{Path(figure).name} — ", "Data: ",
                             Link(data_file.name, _relative(data_file, report_dir)),
                             *([". Runs: ", *runs[1:]] if runs else [])]))  # fmt: skip
    results: list[Inline] = ["Results: ", Link(str(result_dir), _relative(result_dir, report_dir)),
                             f" — curves: `tensorboard --logdir {result_dir}`"]  # fmt: skip
    return Section(record.name, record.expectation, verdict, results, tables, shown)


def build_report(out_dir: Path, records: Sequence[Reported], title: str, wall_time: str | None) -> tuple[Report, list[dict]]:
    """The report of the latest finished result folder of each experiment, and its time per experiment
    (`timing_rows`)."""
    report_dir = out_dir / "report"
    names = [record.name for record in records]
    folders = {name: folder for name in names if (folder := latest_finished(out_dir, name)) is not None}
    summaries = {name: read_summary(folder) for name, folder in folders.items()}
    figures = {name: figure_paths(summary, folders[name]) for name, summary in summaries.items()}
    drawn = {name: figure_data(paths) for name, paths in figures.items()}
    verdicts = judged(records, summaries, drawn)
    timing = timing_rows(summaries)
    times: list[list[Cell]] = [[Link(row["experiment"], f"#{row['experiment']}"), str(row["runs"]), _jobs_cell(row["jobs"]),
                                seconds_text(row["seconds"]) if row["seconds"] is not None else "not timed (collected)"]
                               for row in timing]  # fmt: skip
    sections = [section(record, summaries[record.name], verdicts.get(record.name), folders[record.name], report_dir,
                        figures[record.name], drawn[record.name]) if record.name in summaries else Section(record.name)
                for record in records]  # fmt: skip
    report = Report(title, [list(fact) for fact in header(list(summaries.values()), wall_time)],
                    ["Open every run in TensorBoard: ", f"`tensorboard --logdir {out_dir}`", " and http://localhost:6006."],
                    [VerdictRow(Link(record.name, f"#{record.name}"), verdicts.get(record.name))
                     for record in records if record.expectation is not None],
                    times, sections)  # fmt: skip
    return report, timing


def drawn_runs(runs: list[dict], stem: str, data: dict) -> list[dict]:
    """The runs (with a run folder) a figure draws: the two checkpoints of an interpolation, the runs of the function a
    per-function figure is named after, else every run of the experiment."""
    runs = [run for run in runs if run.get("log_dir")]
    if "first" in data and "second" in data:
        ends = {Path(data["first"]).parents[1].name, Path(data["second"]).parents[1].name}
        return [run for run in runs if Path(run["log_dir"]).name in ends]
    named = [run for run in runs if stem.endswith("_" + str(run["settings"].get("function")))]
    return named or runs


def _markdown_inline(part: Inline) -> str:
    return f"[{part.text}]({part.href})" if isinstance(part, Link) else part


def _markdown_line(parts: Cell) -> str:
    return "".join(_markdown_inline(part) for part in (parts if isinstance(parts, list) else [parts]))


def _markdown_table(names: Sequence[str], rows: list[list[Cell]]) -> list[str]:
    cells = [[_markdown_line(cell).replace("|", "\\|") for cell in row] for row in rows]
    return ["| " + " | ".join(names) + " |", "|" + " --- |" * len(names), *["| " + " | ".join(row) + " |" for row in cells], ""]


def to_markdown(report: Report) -> str:
    lines = [f"# {report.title}", "", *_markdown_table(["", ""], report.facts), _markdown_line(report.tensorboard), "",
             "## Verdicts", "", report.verdicts_note, "",
             *_markdown_table(report.verdict_columns, [[row.link, row.outcome, row.measured] for row in report.verdicts]),
             "## Time per experiment", "", report.times_note, "",
             *_markdown_table(report.time_columns, report.times)]  # fmt: skip
    for part in report.sections:
        lines += [f"## {part.name}", ""]
        if part.results is None:
            lines += [part.not_run, ""]
            continue
        if part.expectation is not None and part.verdict is not None:
            lines += [f"**Question.** {part.expectation.question}", "", f"**Expected.** {part.expectation.expected}", "",
                      f"**Rule.** {part.expectation.rule}", "", f"**Verdict: {part.verdict.outcome}.** {part.verdict.text}",
                      ""]  # fmt: skip
        lines += [_markdown_line(part.results), ""]
        for names, rows in part.tables:
            lines += _markdown_table(names, rows)
        for figure in part.figures:
            lines += [f"![{figure.alt}]({figure.image})", "", _markdown_line(figure.caption), ""]
    return "\n".join(lines) + "\n"


def _html_inline(part: Inline) -> str:
    if isinstance(part, Link):
        return f"<a href='{html.escape(part.href)}'>{html.escape(part.text)}</a>"
    text = html.escape(part)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


def _html_cell(cell: Cell) -> Markup:
    """Text and links as HTML: **bold** and `code` marked, everything else escaped."""
    return Markup("".join(_html_inline(part) for part in (cell if isinstance(cell, list) else [cell])))


def _html_header(name: str) -> Markup:
    """A column name that may break after each underscore."""
    return Markup(html.escape(name).replace("_", "_<wbr>"))


MAX_COLUMNS = 9  # a wider table is shown as several, each with the first column again, so that it fits the page


def column_groups(names: Sequence[str], rows: list[list[Cell]]) -> list[Table]:
    """The table as tables of at most `MAX_COLUMNS` columns, each led by the first column."""
    if len(names) <= MAX_COLUMNS:
        return [(list(names), rows)]
    step = MAX_COLUMNS - 1
    return [([names[0], *names[start:start + step]], [[row[0], *row[start:start + step]] for row in rows])
            for start in range(1, len(names), step)]  # fmt: skip


PAGES = Environment(loader=PackageLoader("hw1.reporting", "templates"), autoescape=select_autoescape(["j2"]),
                    trim_blocks=True, lstrip_blocks=True)  # fmt: skip
PAGES.filters |= {"cell": _html_cell, "header": _html_header}
PAGES.globals["column_groups"] = column_groups


def to_html(report: Report) -> str:
    """One static page (its stylesheet inside, no scripts): figures two to a row where the width allows."""
    return PAGES.get_template("report.html.j2").render(report=report) + "\n"


def write_report(
    out_dir: Path, records: Sequence[Reported], title: str = "Homework 1 report", wall_time: str | None = None
) -> tuple[Path, Path]:
    """Write `<out_dir>/report/report.md` and `index.html` from the latest finished result folder of each experiment,
    under a header naming what they ran on (`header`; `wall_time` is the suite's, when it was just run), and
    `summary.json` beside them: the table of each experiment's runs, jobs and wall seconds (`timing_rows`)."""
    report_dir = out_dir / "report"
    report_dir.mkdir(parents=True, exist_ok=True)
    report, timing = build_report(out_dir, records, title, wall_time)
    write_json_atomically({"title": title, "wall_time": wall_time, "experiments": timing}, report_dir / SUITE_SUMMARY)
    markdown_path, html_path = report_dir / "report.md", report_dir / "index.html"
    write_text_atomically(to_markdown(report), markdown_path)
    write_text_atomically(to_html(report), html_path)
    return markdown_path, html_path
