"""Sweeps of independent runs, splittable over machines without a scheduler of our own: an invocation trains every
run of the sweep, or with `--run-index I ...` only those into the shared folder `--name` (one job-array task each);
`--collect --name` then draws the figures and writes summary.json from the finished runs; `--list-runs` prints them.

Each run writes its row (`<run>/run.json`) when it finishes and claims itself first (`.claims/<run>`, created
exclusively), so two invocations never train one run: the second refuses, unless it is a `--resume`.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Generic, TypeVar

import torch
from lightning.fabric.utilities.rank_zero import rank_zero_only

from hw1.cli.jobs import run_concurrently
from hw1.reporting.plots import mean_sd
from hw1.runs.console import CONSOLE, run_line
from hw1.runs.errors import UsageError
from hw1.runs.files import write_json_atomically
from hw1.runs.launch import global_rank, on_gpu
from hw1.runs.results import ROW_FILE, note_jobs
from hw1.runs.settings import AUTO, BatchSizeSweep, Settings, SweepConfig
from hw1.training.event_files import write_hparams
from hw1.training.fit import freeze_long_lived_objects, start_experiment

CLAIMS = ".claims"


SettingsT = TypeVar("SettingsT", bound=Settings)
BatchSweepT = TypeVar("BatchSweepT", bound=BatchSizeSweep)


@dataclass(frozen=True)
class PlannedRun(Generic[SettingsT]):
    """One run of a sweep: its folder name, the experiment's settings as this run trains with them (its seed, batch
    size, learning rate) and what distinguishes it (batch size, width, role), which goes into its row."""

    name: str
    settings: SettingsT
    details: dict[str, Any] = field(default_factory=dict)


def batch_size_runs(settings: BatchSweepT) -> list[PlannedRun[BatchSweepT]]:
    """A batch-size sweep: one run per batch size (ascending) and seed, named `bs<B>` (`bs<B>-seed<s>`)."""
    return [PlannedRun(f"bs{batch}{suffix}", seed_settings.with_values(batch_size=batch), {"batch_size": batch})
            for batch in sorted(set(settings.batch_sizes))
            for suffix, seed_settings in settings.repeated(settings.repeat.seeds)]  # fmt: skip


class SweepPoints:
    """A sweep's rows grouped by `key` (a batch size, a width) in the order they first appear — one group per point
    of the sweep, holding its seeds — with each column's mean and spread over the seeds."""

    def __init__(self, rows: list[dict[str, Any]], key: str) -> None:
        self.points = list(dict.fromkeys(row[key] for row in rows))
        self.groups = [[row for row in rows if row[key] == point] for point in self.points]

    def mean_sd(self, column: str) -> tuple[list[float], list[float] | None]:
        """Per point, the column's mean over seeds and its population sd (None when no point repeats)."""
        return mean_sd([[row[column] for row in group] for group in self.groups])


Finish = Callable[[Path, list[dict[str, Any]]], dict[str, Any]]


def run_sweep(
    experiment: str,
    settings: SettingsT,
    plan: list[PlannedRun[SettingsT]],
    train: Callable[[Path, PlannedRun[SettingsT]], dict[str, Any]],
    finish: Finish,
) -> dict[str, Any]:
    """Train the chosen runs of `plan` with `train(result_dir, run) -> row`, then, unless only some were asked for,
    `finish(result_dir, rows)` (figures and summary.json, from the rows as run.json holds them). The settings hold
    the sweep's flags (`SweepConfig`)."""
    sweep = settings.held(SweepConfig)
    if sweep.list_runs:
        for index, run in enumerate(plan):
            details = "  ".join(f"{key}={value}" for key, value in run.details.items())
            CONSOLE.say(f"{index:>4}  {run.name}  {details}".rstrip())
        return {"settings": settings, "plan": plan}
    chosen = check_sweep_flags(sweep, plan)
    if sweep.collect:
        result_dir = Path(settings.out_dir) / experiment / str(sweep.name)
        if not result_dir.is_dir():
            raise UsageError(f"no sweep named {sweep.name} in {result_dir.parent}; train its runs with --name "
                             f"{sweep.name} --run-index I first")  # fmt: skip
        return finish(result_dir, collected_rows(result_dir, plan))
    result_dir = start_experiment(experiment, settings, sweep.resume, sweep.name)
    jobs = concurrent_jobs(sweep, settings.profile, settings.accelerator, len(chosen))
    note_jobs(result_dir, jobs)
    if jobs > 1:
        run_concurrently(experiment, settings, jobs, [(plan.index(run), run.name) for run in chosen], result_dir)
        if sweep.run_index is not None:
            return {"settings": settings, "trained": collected_rows(result_dir, chosen)}
        return finish(result_dir, collected_rows(result_dir, plan))
    rows = []
    freeze_long_lived_objects()
    for run in chosen:
        claim_run(result_dir, run.name, sweep.resume)
        row = json.loads(json.dumps({**train(result_dir, run), **run.details}, default=str))
        if global_rank() == 0:
            write_hparams(Path(row["log_dir"]), row, run.details)
            write_json_atomically(row, result_dir / run.name / ROW_FILE)
            CONSOLE.run_finished(run_line(row))
        rows.append(row)
    if sweep.run_index is not None:
        rank_zero_only(CONSOLE.detail)(f"trained {', '.join(run.name for run in chosen)} of sweep {result_dir}; when "
                                       f"every run is trained: --collect --name {sweep.name}")  # fmt: skip
        return {"settings": settings, "trained": rows}
    return finish(result_dir, rows)


THREADS_PER_JOB = 2  # on 2 cores, one process with 2 threads trained a sweep as fast as 2 of 1 (docs/scaling-out.md)


def concurrent_jobs(sweep: SweepConfig, profile: str, accelerator: str, runs: int) -> int:
    """How many of `runs` train at once: --jobs N, or for `auto` one job per `THREADS_PER_JOB` torch threads of this
    process when the runs train on a CPU, and 1 on a GPU (unmeasured there) or in the smoke profile (whose runs last
    less than a child's start-up); never more than `runs`."""
    if sweep.jobs != AUTO:
        return min(int(sweep.jobs), max(runs, 1))
    if profile == "smoke" or on_gpu(accelerator):
        return 1
    return max(1, min(torch.get_num_threads() // THREADS_PER_JOB, runs))


def check_sweep_flags(settings: SweepConfig, plan: list[PlannedRun[SettingsT]]) -> list[PlannedRun[SettingsT]]:
    """The runs this invocation trains; a --run-index out of range, or one without --name, is a UsageError."""
    if settings.collect and settings.run_index is not None:
        raise UsageError("--collect trains nothing; leave out --run-index (collect after every run is trained)")
    if (settings.collect or settings.run_index is not None) and settings.name is None:
        raise UsageError("--run-index and --collect need the sweep's shared folder: pass --name NAME")
    if settings.run_index is None:
        return plan
    wrong = [index for index in settings.run_index if index >= len(plan)]
    if wrong:
        raise UsageError(f"--run-index {wrong[0]} is out of range: this sweep has runs 0 to {len(plan) - 1} "
                         "(--list-runs shows them)")  # fmt: skip
    return [plan[index] for index in sorted(set(settings.run_index))]


def claim_run(result_dir: Path, run: str, resume: bool) -> None:
    """Mark `run` as taken by this invocation (`.claims/<run>`, created exclusively); refuse one already taken by
    another invocation, unless resuming it. Only global rank 0 claims (the other ranks train the same run)."""
    if global_rank() > 0:
        return
    claim = result_dir / CLAIMS / run
    claim.parent.mkdir(exist_ok=True)
    stamp = f"{socket.gethostname()} pid {os.getpid()} at {datetime.now(timezone.utc).isoformat(timespec='seconds')}\n"
    try:
        with open(claim, "x") as file:
            file.write(stamp)
    except FileExistsError:
        if resume:  # the claim keeps naming the invocation that first took the run
            return
        if (result_dir / run / ROW_FILE).is_file():
            raise UsageError(f"run {run} of {result_dir} is already trained; pass --resume to train it on to a larger "
                             "--max-epochs, or --collect to use it") from None
        raise UsageError(f"run {run} of {result_dir} is taken by another invocation ({claim.read_text().strip()}); "
                         "each run trains once — pass --resume to continue it after that invocation stopped") from None


def collected_rows(result_dir: Path, plan: list[PlannedRun[SettingsT]]) -> list[dict[str, Any]]:
    """Every planned run's row from its run.json, in plan order; missing runs, or runs trained with other settings
    than this invocation plans, are a UsageError naming them."""
    missing = [f"{index} ({run.name})" for index, run in enumerate(plan) if not (result_dir / run.name / ROW_FILE).is_file()]
    if missing:
        raise UsageError(f"sweep {result_dir} lacks {len(missing)} of {len(plan)} runs: {', '.join(missing)}; train "
                         f"them with --name {result_dir.name} --run-index {' '.join(m.split()[0] for m in missing)}")  # fmt: skip
    rows = [json.loads((result_dir / run.name / ROW_FILE).read_text()) for run in plan]
    for run, row in zip(plan, rows, strict=True):
        planned = run.settings.trained_with()
        for key, value in row.get("settings", {}).items():
            if key in planned and key != "steps_per_chunk" and json.dumps(planned[key]) != json.dumps(value):
                raise UsageError(f"run {run.name} trained with {key}={value}, this invocation plans {key}={planned[key]};"
                                 " collect with the flags its runs were trained with")  # fmt: skip
    return rows
