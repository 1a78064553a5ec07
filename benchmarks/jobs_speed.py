"""Wall time of experiments' sweeps with `--jobs 1` (one process, all of torch's threads) against `--jobs N` (N child
processes, each with an equal share of the threads), on this machine: the measurement behind `--jobs auto`.

Each round runs every chosen experiment once per jobs value, as its own `python experiments/<name>.py` process with
the quick profile (start-up included, as a user pays it), in an order that alternates from round to round, since the
shared cores' speed drifts over minutes; each round's ratio compares times taken minutes apart at most.

    python benchmarks/jobs_speed.py --data-dir ../shared/data --experiments train_mnist random_labels --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed_run(experiment: str, jobs: int, data_dir: str, out_dir: Path) -> tuple[float, int]:
    """Seconds of one quick-profile invocation of `experiment` with `--jobs jobs`, and the jobs its summary records
    (at most its number of runs)."""
    command = [sys.executable, str(ROOT / "experiments" / f"{experiment}.py"), "--profile", "quick", "--accelerator",
               "cpu", "--data-dir", data_dir, "--out-dir", str(out_dir), "--jobs", str(jobs)]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    seconds = time.perf_counter() - start
    latest = max((out_dir / experiment).glob("version_*/summary.json"), key=lambda path: path.stat().st_mtime)
    return seconds, json.loads(latest.read_text())["timing"]["jobs"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("HW1_DATA_DIR", "data"), help="folder holding MNIST/raw")
    parser.add_argument("--experiments", nargs="+", default=["train_mnist", "random_labels"], help="sweeps to time")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="the N compared with --jobs 1")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of every experiment at both jobs values")
    args = parser.parse_args()
    times: dict[tuple[str, int], list[float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for round_index in range(args.rounds):
            order = (1, args.jobs) if round_index % 2 == 0 else (args.jobs, 1)
            for experiment in args.experiments:
                for jobs in order:
                    seconds, used = timed_run(experiment, jobs, args.data_dir, Path(folder))
                    times.setdefault((experiment, jobs), []).append(seconds)
                    print(f"round {round_index + 1} {experiment} --jobs {jobs} ({used} at once): {seconds:.1f} s", flush=True)
    for experiment in args.experiments:
        one, many = times[(experiment, 1)], times[(experiment, args.jobs)]
        ratios = [a / b for a, b in zip(one, many, strict=True)]
        print(f"{experiment}: --jobs 1 {statistics.median(one):.1f} s, --jobs {args.jobs} {statistics.median(many):.1f} s;"
              f" speed-up per round {', '.join(f'{r:.2f}x' for r in ratios)}")
    total_one = sum(statistics.median(times[(e, 1)]) for e in args.experiments)
    total_many = sum(statistics.median(times[(e, args.jobs)]) for e in args.experiments)
    print(f"all: --jobs 1 {total_one:.1f} s, --jobs {args.jobs} {total_many:.1f} s ({total_one / total_many:.2f}x)")


if __name__ == "__main__":
    main()
