"""A readable report of every experiment's summary.json: Markdown and HTML, with figures, settings and key numbers."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any

from hw1.plots import data_path
from hw1.results import latest_finished, read_summary

HIDDEN_COLUMNS = {"checkpoint", "log_dir"}
KEY_SETTINGS = ("profile", "max_epochs", "batch_size", "optimizer", "lr", "lr_schedule", "momentum", "train_subset", "seed",
                "data_seed", "runs", "hidden", "widths", "batch_sizes", "functions", "nets", "depths", "label_mode",
                "epsilon", "finisher_steps", "grad_tolerance", "zero_tolerance", "flat_tolerance")  # fmt: skip


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value)


def _tables(summary: dict) -> tuple[list[list[str]], list[str], list[list[str]]]:
    settings = [[key, _cell(summary["settings"][key])] for key in KEY_SETTINGS if summary["settings"].get(key) is not None]
    runs = summary["runs"]
    columns = [
        key for key in (runs[0] if runs else {})
        if key not in HIDDEN_COLUMNS and not isinstance(runs[0][key], dict | list) and any(r.get(key) is not None for r in runs)
    ]  # fmt: skip
    varying = [key for key in per_run_settings(runs) if key not in columns]
    rows = [[_cell(run.get(column)) for column in columns] + [_cell(run["settings"].get(key)) for key in varying]
            for run in runs]  # fmt: skip
    return settings, columns + varying, rows


def per_run_settings(runs: list[dict]) -> list[str]:
    """The settings that differ between runs (batch size in a sweep, initial-weight seeds, ...), shown per run."""
    keys = dict.fromkeys(key for run in runs for key in run.get("settings", {}))
    return [key for key in keys if len({json.dumps(run.get("settings", {}).get(key), sort_keys=True) for run in runs}) > 1]


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


def write_report(
    out_dir: Path, experiments: list[str], title: str = "Homework 1 report", wall_time: str | None = None
) -> tuple[Path, Path]:
    """Write `<out_dir>/report/report.md` and `index.html` from the latest finished result folder of each experiment,
    under a header naming what they ran on (`header`; `wall_time` is the suite's, when it was just run)."""
    report_dir = out_dir / "report"
    report_dir.mkdir(parents=True, exist_ok=True)
    how_to = f"Open the runs in TensorBoard with `tensorboard --logdir {out_dir}` and http://localhost:6006."
    folders = {experiment: latest_finished(out_dir, experiment) for experiment in experiments}
    summaries = {experiment: read_summary(folder) for experiment, folder in folders.items() if folder is not None}
    facts = header(list(summaries.values()), wall_time)
    markdown = [f"# {title}", "", "| | |", "| --- | --- |", *[f"| {k} | {v} |" for k, v in facts], "", how_to, ""]
    fact_rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in facts)
    body = [f"<h1>{html.escape(title)}</h1>", f"<table>{fact_rows}</table>",
            f"<p>Open the runs in TensorBoard with <code>tensorboard --logdir {html.escape(str(out_dir))}</code> "
            "and <a href='http://localhost:6006'>http://localhost:6006</a>.</p>"]  # fmt: skip
    for experiment in experiments:
        result_dir = folders[experiment]
        markdown += [f"## {experiment}", ""]
        body.append(f"<h2>{html.escape(experiment)}</h2>")
        if result_dir is None:
            markdown += ["Not run (no finished result folder).", ""]
            body.append("<p>Not run (no finished result folder).</p>")
            continue
        summary = summaries[experiment]
        folder = os.path.relpath(result_dir.resolve(), report_dir.resolve())
        markdown += [f"Results: [{result_dir}]({folder})", ""]
        body.append(f"<p>Results: <a href='{html.escape(folder)}'>{html.escape(str(result_dir))}</a></p>")
        settings, columns, rows = _tables(summary)
        markdown += ["| setting | value |", "| --- | --- |", *[f"| {k} | {v} |" for k, v in settings], ""]
        setting_rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in settings)
        body.append(f"<table><tr><th>setting</th><th>value</th></tr>{setting_rows}</table>")
        if columns:
            markdown += ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns),
                         *["| " + " | ".join(row) + " |" for row in rows], ""]  # fmt: skip
            body.append("<table><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in columns) + "</tr>"
                        + "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>" for row in rows)
                        + "</table>")  # fmt: skip
        for figure in summary["figures"]:
            relative = os.path.relpath(Path(figure).resolve(), report_dir.resolve())
            data_file = data_path(figure)
            data = os.path.relpath(data_file.resolve(), report_dir.resolve())
            markdown += [f"![{Path(figure).stem}]({relative})", "", f"Data: [{data_file.name}]({data})", ""]
            body.append(f"<figure><img src='{html.escape(relative)}' alt='{html.escape(Path(figure).stem)}'>"
                        f"<figcaption>{html.escape(Path(figure).name)} — data: <a href='{html.escape(data)}'>"
                        f"{html.escape(data_file.name)}</a></figcaption></figure>")  # fmt: skip
    style = ("body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}table{border-collapse:collapse;"
             "margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px}img{max-width:100%}")  # fmt: skip
    markdown_path, html_path = report_dir / "report.md", report_dir / "index.html"
    markdown_path.write_text("\n".join(markdown) + "\n")
    html_path.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
                         f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n")  # fmt: skip
    return markdown_path, html_path
