"""A sweep's runs as concurrent child processes on this machine (`--jobs N`).

Each child is one of the invocation's own job-array tasks: the same settings with `--run-index` of every N-th run and
`--name` set to the invocation's result folder, started here, with the machine's threads shared among the children;
the parent waits for them and then collects their rows from run.json as `--collect` does. Child k's output goes to
`<result folder>/.jobs/job<k>.log`. A failed child fails the invocation once every other run has trained (they are
independent; what they trained is kept for `--resume`), naming the run and its log; Ctrl-C or a kill of the parent ends
the children.
"""

from __future__ import annotations

import ctypes
import importlib
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from dataclasses import fields
from pathlib import Path

import torch

from hw1.runs.console import CONSOLE, run_line
from hw1.runs.errors import RunFailed
from hw1.runs.results import ROW_FILE
from hw1.runs.settings import Settings

JOBS_FOLDER = ".jobs"
POLL_SECONDS = 0.2


def child_threads(jobs: int) -> int:
    """Threads each of `jobs` concurrent children computes with: this process's torch threads shared out, at least 1."""
    return max(1, torch.get_num_threads() // jobs)


def run_concurrently(experiment: str, settings: Settings, jobs: int, runs: list[tuple[int, str]], result_dir: Path) -> None:
    """Train `runs` ((plan position, run name)) of `experiment`'s sweep into `result_dir` with `jobs` children, each
    taking every N-th run (one process start each: importing torch and Lightning costs seconds); each run's line is
    printed here as its row appears."""
    if not runs:
        return
    jobs_dir = result_dir / JOBS_FOLDER
    jobs_dir.mkdir(exist_ok=True)
    count = min(jobs, len(runs))
    threads = child_threads(count)
    shares = {f"job{k}": runs[k::count] for k in range(count)}
    running: dict[subprocess.Popen, str] = {}
    failed: list[str] = []
    started = time.time()
    try:
        for job, share in shares.items():
            running[start_child(experiment, settings, [index for index, _ in share], job, result_dir, threads)] = job
            CONSOLE.detail(f"{job}: started with {threads} thread{'s' if threads != 1 else ''} for "
                           f"{', '.join(name for _, name in share)} (log: {jobs_dir / f'{job}.log'})")  # fmt: skip
        waiting = [name for _, name in runs]
        while running:
            waiting = print_finished_runs(result_dir, waiting, started)
            for process, job in list(running.items()):
                if process.poll() is None:
                    continue
                del running[process]
                waiting = print_finished_runs(result_dir, waiting, started)
                unfinished = [name for _, name in shares[job] if not trained_since(result_dir / name / ROW_FILE, started)]
                if process.returncode == 0:
                    CONSOLE.detail(f"{job}: done, {len(running)} jobs still running")
                else:
                    CONSOLE.say(f"{job}: FAILED (exit code {process.returncode}), {len(running)} jobs still running")
                if process.returncode != 0:
                    failed.append(f"{', '.join(unfinished) or job} (exit code {process.returncode}; log: "
                                  f"{jobs_dir / f'{job}.log'})")  # fmt: skip
            time.sleep(POLL_SECONDS)
    except BaseException:
        stop(running)
        raise
    if failed:
        raise RunFailed(f"not trained: {'; '.join(failed)}; the runs trained are kept: fix it and pass --resume to "
                        "train what is unfinished")  # fmt: skip


def print_finished_runs(result_dir: Path, waiting: list[str], started: float) -> list[str]:
    """Print the line of each run in `waiting` whose row its child has written; the runs still waiting."""
    finished = [name for name in waiting if trained_since(result_dir / name / ROW_FILE, started)]
    for name in finished:
        CONSOLE.run_finished(run_line(json.loads((result_dir / name / ROW_FILE).read_text())))
    return [name for name in waiting if name not in finished]


def trained_since(row_file: Path, started: float) -> bool:
    """Whether a run's row was written after `started` (by this invocation's children)."""
    return row_file.is_file() and row_file.stat().st_mtime >= started


def start_child(experiment: str, settings: Settings, indices: list[int], job: str, result_dir: Path, threads: int
                ) -> subprocess.Popen:  # fmt: skip
    """One child training the runs at `indices` of the plan into `result_dir` (a job-array task of this invocation)."""
    task = settings.with_values(run_index=indices, name=result_dir.name, jobs=1)
    task_file = result_dir / JOBS_FOLDER / f"{job}.settings"
    task_file.write_bytes(pickle.dumps((experiment, {f.name: getattr(task, f.name) for f in fields(task)})))
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    with open(result_dir / JOBS_FOLDER / f"{job}.log", "w") as log:
        return subprocess.Popen([sys.executable, "-m", "hw1.cli.jobs", str(task_file)], stdout=log,
                                stderr=subprocess.STDOUT, env=env, preexec_fn=_end_with_parent)  # fmt: skip


def _end_with_parent() -> None:
    """In the child (Linux): be sent SIGTERM when the parent dies, however it dies."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def stop(running: dict[subprocess.Popen, str]) -> None:
    """End every running child: SIGTERM, then SIGKILL after a grace period."""
    for process in running:
        process.terminate()
    deadline = time.monotonic() + 10
    for process in running:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()


def main(task_file: str) -> None:
    """A child: run the experiment's task (settings with one --run-index) pickled in `task_file`."""
    experiment, values = pickle.loads(Path(task_file).read_bytes())
    record = importlib.import_module(f"experiments.{experiment}").EXPERIMENT
    record.run(record.settings(**values), None)


if __name__ == "__main__":
    from hw1.cli.flags import run_cli

    if len(sys.argv) != 2 or not Path(sys.argv[1]).is_file():
        print("error: python -m hw1.cli.jobs TASK_FILE is started by --jobs with a task file it wrote; run the "
              "experiment with --jobs N instead", file=sys.stderr)  # fmt: skip
        sys.exit(2)
    run_cli(lambda: main(sys.argv[1]))
