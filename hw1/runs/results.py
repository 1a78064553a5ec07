"""Result folders: one `<out-dir>/<experiment>/version_N/` per invocation, claimed atomically, holding its runs,
figures and summary.json; finding the latest finished one again (for `run_all --resume` and the report)."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import time
from collections.abc import Sequence
from dataclasses import asdict, is_dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.utilities.rank_zero import rank_zero_only

from hw1.runs.console import CONSOLE
from hw1.runs.errors import UsageError
from hw1.runs.files import write_json_atomically
from hw1.runs.launch import decided_by_rank_zero, global_rank, on_gpu
from hw1.runs.settings import Settings

SUMMARY = "summary.json"
ROW_FILE = "run.json"  # a sweep's run: its row of summary.json, written when it finished


def ensure_writable(folder: Path) -> Path:
    """Create `folder` if needed and check that files can be written in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as error:
        raise UsageError(f"cannot write to {folder} ({error.strerror}); pass a writable folder with --out-dir") from None
    return folder


def result_versions(experiment_dir: Path) -> list[Path]:
    """The experiment's result folders `version_N`, in the order of N."""
    found = ((int(match.group(1)), path) for path in experiment_dir.glob("version_*")
             if path.is_dir() and (match := re.fullmatch(r"version_(\d+)", path.name)))  # fmt: skip
    return [path for _, path in sorted(found)]


def is_finished(result_dir: Path) -> bool:
    """A result folder is finished once its summary.json is written (the last thing an invocation does)."""
    return (result_dir / SUMMARY).is_file()


def claim_result_dir(
    out_dir: str | os.PathLike, experiment: str, resume: bool, accelerator: str = "cpu", name: str | None = None
) -> Path:
    """This invocation's result folder `<out_dir>/<experiment>/version_N`, or `<out_dir>/<experiment>/<name>` when the
    invocation is one of a sweep's job-array tasks sharing a folder (`hw1.cli.sweeps`; its runs are claimed one by one).

    Without `resume`, a new N, claimed by an atomic mkdir: two invocations started at once never share a folder, and
    none writes into another's. With `resume`, the latest unfinished folder, else the latest finished one (whose
    runs then train on up to a larger --max-epochs). Ranks started at once by torchrun or srun (several nodes) take
    global rank 0's choice (`hw1.runs.launch`); ranks that Lightning starts itself start after rank 0 claimed its folder,
    and join the latest one.
    """
    decided = decided_by_rank_zero(lambda: str(_claim(out_dir, experiment, resume, name)), accelerator)
    claimed = Path(decided) if decided is not None else _claim(out_dir, experiment, resume, name)
    _CLAIMED[claimed.resolve()] = {"started": time.monotonic(), "jobs": 1}
    return claimed


_CLAIMED: dict[Path, dict[str, Any]] = {}  # each result folder this process claimed: when, and its runs' jobs at once


def note_jobs(result_dir: Path, jobs: int) -> None:
    """Record how many runs of the invocation that claimed `result_dir` train at once (its summary's timing)."""
    if result_dir.resolve() in _CLAIMED:
        _CLAIMED[result_dir.resolve()]["jobs"] = jobs


def timing(result_dir: Path, runs: int) -> dict[str, Any]:
    """The summary's timing: wall seconds since this process claimed `result_dir` (None where it did not, e.g. when it
    only collects a sweep trained elsewhere), the number of runs and the jobs that trained them at once."""
    claimed = _CLAIMED.get(result_dir.resolve())
    seconds = None if claimed is None else round(time.monotonic() - claimed["started"], 1)
    return {"seconds": seconds, "runs": runs, "jobs": None if claimed is None else claimed["jobs"]}


def _claim(out_dir: str | os.PathLike, experiment: str, resume: bool, name: str | None) -> Path:
    experiment_dir = ensure_writable(Path(out_dir) / experiment)
    if name is not None:
        (experiment_dir / name).mkdir(exist_ok=True)
        return experiment_dir / name
    versions = result_versions(experiment_dir)
    if versions and (resume or global_rank() > 0):
        chosen = (latest_unfinished(out_dir, experiment) or versions[-1]) if global_rank() == 0 else versions[-1]
        if resume:
            rank_zero_only(CONSOLE.say)(f"{experiment}: resuming {chosen}")
        return chosen
    if resume:
        CONSOLE.say(f"{experiment}: nothing to resume yet in {experiment_dir}, starting afresh")
    number = int(versions[-1].name.split("_")[1]) + 1 if versions else 0
    while True:
        try:
            (experiment_dir / f"version_{number}").mkdir()
            return experiment_dir / f"version_{number}"
        except FileExistsError:
            number += 1


def latest_finished(out_dir: str | os.PathLike, experiment: str) -> Path | None:
    """The experiment's finished result folder (a version_N, or a sweep's --name folder) whose summary.json was
    written last, if any."""
    experiment_dir = Path(out_dir) / experiment
    folders = experiment_dir.iterdir() if experiment_dir.is_dir() else []
    finished = [path for path in folders if path.is_dir() and is_finished(path)]
    return max(finished, key=lambda path: (path / SUMMARY).stat().st_mtime_ns) if finished else None


def latest_unfinished(out_dir: str | os.PathLike, experiment: str) -> Path | None:
    """The latest result folder of the experiment without a summary.json (an invocation stopped early), if any."""
    unfinished = [path for path in result_versions(Path(out_dir) / experiment) if not is_finished(path)]
    return unfinished[-1] if unfinished else None


def read_summary(result_dir: Path) -> dict[str, Any]:
    return json.loads((result_dir / SUMMARY).read_text())


def shared_settings(settings: dict[str, Any], per_run: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The experiment's settings less any key that some run trained with another value of."""
    return {key: value for key, value in settings.items() if all(run.get(key, value) == value for run in per_run)}


def environment(accelerator: str | None) -> dict[str, Any]:
    """Where and with what the experiment ran: the device, torch and lightning versions, the project's git commit
    (with `+dirty` when the working tree had changes; None outside a git checkout) and when it finished."""
    cpu = f"CPU ({_cpu_model()}, {torch.get_num_threads()} threads)"
    return {
        "device": torch.cuda.get_device_name() if on_gpu(accelerator) else cpu,
        "torch": torch.__version__,
        "lightning": L.__version__,
        "git_commit": _git_commit(),
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _cpu_model() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or platform.machine()
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), platform.machine())


def _git_commit() -> str | None:
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        changes = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True,
                                 text=True, timeout=10)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    if commit.returncode != 0:
        return None
    return commit.stdout.strip() + ("+dirty" if changes.stdout.strip() else "")


@rank_zero_only
def write_summary(
    result_dir: Path, experiment: str, settings: Settings, runs: Sequence[Any], figures: Sequence[Path]
) -> Path:
    """Write `<result_dir>/summary.json` atomically and return its path.

    Each run (a dataclass such as RunResult, or a dict) carries the settings it trained with (`settings`); the
    experiment-level settings keep only the values that no run contradicts, so a sweep's default batch size, say, is
    not recorded as if its runs had used it. `timing` is this invocation's wall time from claiming the folder to its
    summary (None where it only collected a sweep trained elsewhere), its number of runs, and the jobs it ran at once.
    """
    rows = [asdict(run) if is_dataclass(run) and not isinstance(run, type) else run for run in runs]
    summary = {
        "experiment": experiment,
        "settings": shared_settings(settings.recorded(), [row.get("settings", {}) for row in rows]),
        "runs": rows,
        "figures": [str(figure) for figure in figures],
        "environment": environment(settings.accelerator),
        "timing": timing(result_dir, len(rows)),
    }
    path = write_json_atomically(summary, result_dir / SUMMARY)
    folders = sorted({str(Path(figure).parent) for figure in figures})
    names = ", ".join(Path(figure).name for figure in figures)
    CONSOLE.detail(f"summary: {path}" + (f"; figures in {folders[0]}: {names}" if len(folders) == 1 else
                                         "".join(f"; figure: {figure}" for figure in figures)))  # fmt: skip
    return path
