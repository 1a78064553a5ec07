"""A readable report of every experiment's summary.json, Markdown and HTML from one outline: per experiment the
question, the literature's expectation, the rule and its verdict (`hw1.reporting.verdicts`), settings, run numbers (mean ± sd
over seeds), and the figures with what to look at and their data files."""

from __future__ import annotations

import html
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from statistics import mean, pstdev
from typing import Any

from hw1.reporting.plots import data_path
from hw1.reporting.verdicts import (
    EXPECTATIONS,
    MIXED,
    NOT_MEASURABLE,
    NOT_SUPPORTED,
    SUPPORTED,
    Verdict,
    caption,
    verdict,
)
from hw1.runs.console import seconds_text
from hw1.runs.files import write_json_atomically, write_text_atomically
from hw1.runs.results import latest_finished, read_summary

HIDDEN_COLUMNS = {"checkpoint", "log_dir"}
SUITE_SUMMARY = "summary.json"  # the report folder's: each experiment's runs, jobs at once and wall seconds
SEED_SETTINGS = {"init_seed", "order_seed", "steps_per_chunk"}  # differ between the seeds of one run
KEY_SETTINGS = ("profile", "max_epochs", "batch_size", "optimizer", "lr", "lr_schedule", "momentum", "train_subset", "seed",
                "seeds", "data_seed", "runs", "hidden", "widths", "batch_sizes", "functions", "nets", "depths", "label_mode",
                "epsilon", "finisher_steps", "grad_tolerance", "zero_tolerance", "flat_tolerance", "label_noise",
                "hidden_layers", "eval_every", "source", "checkpoints", "top_k", "lanczos_steps", "slq_runs", "probes",
                "hessian_samples", "points", "radius", "margin", "train_samples", "test_samples")  # fmt: skip


@dataclass(frozen=True)
class Link:
    text: str
    href: str


Inline = str | Link
Cell = Inline | list[Inline]


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


def judged(summaries: dict[str, dict], drawn: dict[str, dict[str, dict]]) -> dict[str, Verdict]:
    """The verdict of every finished experiment that has a stated expectation, from its summary and figure data."""
    return {experiment: verdict(experiment, summary, drawn[experiment])
            for experiment, summary in summaries.items() if experiment in EXPECTATIONS}  # fmt: skip


def outline(out_dir: Path, experiments: list[str], title: str, wall_time: str | None) -> tuple[list[tuple], list[dict]]:
    """The report as blocks — ("h1"|"h2"|"h3", text), ("p", [inline]), ("table", header, rows), ("figure", image,
    alt, [caption inline])) — with links relative to `<out_dir>/report/`, and its time per experiment (`timing_rows`)."""
    report_dir = out_dir / "report"
    folders = {experiment: folder for experiment in experiments if (folder := latest_finished(out_dir, experiment)) is not None}
    summaries = {experiment: read_summary(folder) for experiment, folder in folders.items()}
    figures = {experiment: figure_paths(summary, folders[experiment]) for experiment, summary in summaries.items()}
    drawn = {experiment: figure_data(paths) for experiment, paths in figures.items()}
    verdicts = judged(summaries, drawn)
    facts = [list(fact) for fact in header(list(summaries.values()), wall_time)]
    timing = timing_rows(summaries)
    times = [[Link(row["experiment"], f"#{row['experiment']}"), str(row["runs"]), _jobs_cell(row["jobs"]),
              seconds_text(row["seconds"]) if row["seconds"] is not None else "not timed (collected)"]
             for row in timing]  # fmt: skip
    blocks: list[tuple] = [("h1", title), ("table", ["", ""], facts),
                           ("p", ["Open every run in TensorBoard: ", f"`tensorboard --logdir {out_dir}`",
                                  " and http://localhost:6006."]),
                           ("h2", "Verdicts"),
                           ("p", ["Each verdict is a rule over the numbers in the experiment's summary.json and figure data, "
                                  "stated in its section; with several seeds the rule is applied to each seed's runs."]),
                           ("table", ["experiment", "verdict", "measured (each seed's numbers: in its section)"],
                            [[Link(e, f"#{e}"), *((verdicts[e].outcome, verdicts[e].text.split(" — ")[0])
                                                  if e in verdicts else ("not run", "no finished result folder"))]
                             for e in experiments if e in EXPECTATIONS]),
                           ("h2", "Time per experiment"),
                           ("p", ["Each experiment's invocation, from claiming its result folder to writing its summary "
                                  "(with `--resume`, that invocation's time only):"]),
                           ("table", ["experiment", "runs", "jobs at once", "wall time"], times)]  # fmt: skip
    for experiment in experiments:
        blocks.append(("h2", experiment))
        if experiment not in summaries:
            blocks.append(("p", ["Not run (no finished result folder)."]))
            continue
        summary, result_dir = summaries[experiment], folders[experiment]
        if experiment in EXPECTATIONS:
            expectation, judgement = EXPECTATIONS[experiment], verdicts[experiment]
            blocks += [("p", ["**Question.** ", expectation.question]), ("p", ["**Expected.** ", expectation.expected]),
                       ("p", ["**Rule.** ", expectation.rule]),
                       ("p", [f"**Verdict: {judgement.outcome}.** ", judgement.text])]  # fmt: skip
        blocks.append(("p", ["Results: ", Link(str(result_dir), _relative(result_dir, report_dir)),
                             f" — curves: `tensorboard --logdir {result_dir}`"]))  # fmt: skip
        settings = [[key, _cell(summary["settings"][key])] for key in KEY_SETTINGS if summary["settings"].get(key) is not None]
        blocks.append(("table", ["setting", "value"], settings))
        if summary["runs"]:
            blocks.append(("table", *run_table(summary["runs"], result_dir, report_dir)))
        for figure in figures[experiment]:
            stem, data_file = Path(figure).stem, data_path(figure)
            words = caption(experiment, stem)
            runs = [part for run in drawn_runs(summary["runs"], stem, drawn[experiment].get(stem, {}))
                    for part in (", ", run_link(run, result_dir, report_dir))]
            blocks.append(("figure", _relative(figure, report_dir), stem,
                           [f"{Path(figure).name}: {words} " if words else f"{Path(figure).name} — ", "Data: ",
                            Link(data_file.name, _relative(data_file, report_dir)),
                            *([". Runs: ", *runs[1:]] if runs else [])]))  # fmt: skip
    return blocks, timing


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


def _markdown_cell(cell: Cell) -> str:
    parts = cell if isinstance(cell, list) else [cell]
    return "".join(_markdown_inline(part) for part in parts).replace("|", "\\|")


def _html_inline(part: Inline) -> str:
    if isinstance(part, Link):
        return f"<a href='{html.escape(part.href)}'>{html.escape(part.text)}</a>"
    text = html.escape(part)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


def _html_cell(cell: Cell) -> str:
    return "".join(_html_inline(part) for part in (cell if isinstance(cell, list) else [cell]))


def to_markdown(blocks: list[tuple]) -> str:
    lines: list[str] = []
    for kind, *content in blocks:
        if kind in ("h1", "h2", "h3"):
            lines += ["#" * int(kind[1]) + " " + content[0], ""]
        elif kind == "p":
            lines += ["".join(_markdown_inline(part) for part in content[0]), ""]
        elif kind == "table":
            names, rows = content
            lines += ["| " + " | ".join(names) + " |", "|" + " --- |" * len(names),
                      *["| " + " | ".join(_markdown_cell(cell) for cell in row) + " |" for row in rows], ""]  # fmt: skip
        elif kind == "figure":
            image, alt, words = content
            lines += [f"![{alt}]({image})", "", "".join(_markdown_inline(part) for part in words), ""]
    return "\n".join(lines) + "\n"


STYLE = """
:root{--ink:#1f2328;--muted:#59636e;--line:#d1d9e0;--soft:#f6f8fa;--accent:#0969da}
*{box-sizing:border-box}
body{margin:0;color:var(--ink);background:#fff;font:15px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,
"Helvetica Neue",Arial,sans-serif}
main{max-width:1440px;margin:0 auto;padding:24px 32px 64px}
h1{font-size:28px;margin:0 0 12px}
h2{font-size:22px;margin:40px 0 8px;padding-top:12px;border-top:1px solid var(--line)}
h3{font-size:17px;margin:24px 0 6px}
p{margin:6px 0 10px;max-width:110ch}
a{color:var(--accent);text-decoration:none}a:hover{text-decoration:underline}
code{font:13px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:var(--soft);padding:1px 4px;
border-radius:4px;overflow-wrap:anywhere}
.table{max-width:100%;overflow-x:auto;margin:8px 0 16px}
table{border-collapse:collapse;font-size:13.5px}
th,td{border:1px solid var(--line);padding:5px 8px;text-align:left;vertical-align:top}
td{overflow-wrap:anywhere}td:first-child{min-width:8em}
th{background:var(--soft);font-weight:600}
tr:nth-child(even) td{background:#fbfcfd}
.verdict{display:inline-block;padding:1px 9px;border-radius:999px;font-weight:600;font-size:13px;white-space:nowrap;
border:1px solid}
.supported{background:#dafbe1;color:#116329;border-color:#4ac26b}
.mixed{background:#fff8c5;color:#7d4e00;border-color:#d4a72c}
.not-supported{background:#ffebe9;color:#a40e26;border-color:#ff8182}
.not-measurable{background:#eaeef2;color:#424a53;border-color:#afb8c1}
.figures{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,520px),1fr));gap:20px;margin:12px 0}
figure{margin:0;padding:12px;border:1px solid var(--line);border-radius:8px;background:#fff;min-width:0}
figure img{display:block;width:100%;height:auto}
figcaption{font-size:13px;color:var(--muted);margin-top:8px;overflow-wrap:anywhere}
"""
VERDICT_WORDS = (SUPPORTED, MIXED, NOT_SUPPORTED, NOT_MEASURABLE)


def _verdict_badge(outcome: str) -> str:
    """A verdict marked by colour and by its word."""
    return f"<span class='verdict {outcome.replace(' ', '-')}'>{html.escape(outcome)}</span>"


def _html_cell_marked(cell: Cell) -> str:
    """A table cell; a verdict word (the verdict table's second column) becomes its badge."""
    return _verdict_badge(cell) if isinstance(cell, str) and cell in VERDICT_WORDS else _html_cell(cell)


def _html_paragraph(parts: list[Inline]) -> str:
    first = parts[0] if parts else ""
    verdict = re.fullmatch(r"\*\*Verdict: (.+)\.\*\* ", first) if isinstance(first, str) else None
    if verdict is not None and verdict.group(1) in VERDICT_WORDS:
        return f"<p><strong>Verdict:</strong> {_verdict_badge(verdict.group(1))} " + "".join(
            _html_inline(part) for part in parts[1:]) + "</p>"
    return "<p>" + "".join(_html_inline(part) for part in parts) + "</p>"


MAX_COLUMNS = 9  # a wider table is shown as several, each with the first column again, so that it fits the page


def _column_groups(names: list[str], rows: list[list[Cell]]) -> list[tuple[list[str], list[list[Cell]]]]:
    """The table as tables of at most `MAX_COLUMNS` columns, each led by the first column."""
    if len(names) <= MAX_COLUMNS:
        return [(names, rows)]
    step = MAX_COLUMNS - 1
    return [([names[0], *names[start:start + step]], [[row[0], *row[start:start + step]] for row in rows])
            for start in range(1, len(names), step)]  # fmt: skip


def _html_table(names: list[str], rows: list[list[Cell]]) -> str:
    head = "<tr>" + "".join(f"<th>{html.escape(name).replace('_', '_<wbr>')}</th>" for name in names) + "</tr>"
    return ("<div class='table'><table>" + (head if any(names) else "")
            + "".join("<tr>" + "".join(f"<td>{_html_cell_marked(cell)}</td>" for cell in row) + "</tr>" for row in rows)
            + "</table></div>")  # fmt: skip


def to_html(blocks: list[tuple], title: str) -> str:
    """One static page (its stylesheet inside, no scripts): consecutive figures two to a row where the width allows."""
    body: list[str] = []
    figures: list[str] = []
    for kind, *content in blocks:
        if kind != "figure" and figures:
            body.append("<div class='figures'>" + "".join(figures) + "</div>")
            figures = []
        if kind in ("h1", "h2", "h3"):
            anchor = f" id='{html.escape(content[0])}'" if kind == "h2" else ""
            body.append(f"<{kind}{anchor}>{html.escape(content[0])}</{kind}>")
        elif kind == "p":
            body.append(_html_paragraph(content[0]))
        elif kind == "table":
            body += [_html_table(*part) for part in _column_groups(*content)]
        elif kind == "figure":
            image, alt, words = content
            figures.append(f"<figure><a href='{html.escape(image)}'><img src='{html.escape(image)}' "
                           f"alt='{html.escape(alt)}'></a><figcaption>"
                           + "".join(_html_inline(part) for part in words) + "</figcaption></figure>")  # fmt: skip
    if figures:
        body.append("<div class='figures'>" + "".join(figures) + "</div>")
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><meta name='viewport' "
            f"content='width=device-width, initial-scale=1'><title>{html.escape(title)}</title>"
            f"<link rel='icon' href='data:,'><style>{STYLE}</style></head><body><main>{''.join(body)}</main></body>"
            f"</html>\n")  # fmt: skip


def write_report(
    out_dir: Path, experiments: list[str], title: str = "Homework 1 report", wall_time: str | None = None
) -> tuple[Path, Path]:
    """Write `<out_dir>/report/report.md` and `index.html` from the latest finished result folder of each experiment,
    under a header naming what they ran on (`header`; `wall_time` is the suite's, when it was just run), and
    `summary.json` beside them: the table of each experiment's runs, jobs and wall seconds (`timing_rows`)."""
    report_dir = out_dir / "report"
    report_dir.mkdir(parents=True, exist_ok=True)
    blocks, timing = outline(out_dir, experiments, title, wall_time)
    write_json_atomically({"title": title, "wall_time": wall_time, "experiments": timing}, report_dir / SUITE_SUMMARY)
    markdown_path, html_path = report_dir / "report.md", report_dir / "index.html"
    write_text_atomically(to_markdown(blocks), markdown_path)
    write_text_atomically(to_html(blocks, title), html_path)
    return markdown_path, html_path
