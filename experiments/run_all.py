"""Run every experiment in order with one profile, then build a report (report/index.html and report/report.md).

    python experiments/run_all.py --profile quick        # the whole suite on 2 CPU cores
    python experiments/run_all.py --profile full --accelerator gpu
"""

import argparse
import importlib
import time
from pathlib import Path

from hw1 import training
from hw1.cli import PROFILES, parse_settings, run_cli, seed_value, unused_options
from hw1.errors import UsageError
from hw1.report import write_report
from hw1.results import latest_finished, latest_unfinished, read_summary

EXPERIMENTS = (
    "simulate_function",
    "train_mnist",
    "optimization_pca",
    "grad_norm",
    "minimal_ratio",
    "random_labels",
    "params_vs_generalization",
    "flatness_interpolation",
    "flatness_sensitivity",
    "sharpness",
)


def finished(out_dir: Path, experiment: str, profile: str) -> bool:
    """An experiment has finished when its latest finished result folder was made with the same profile."""
    latest = latest_finished(out_dir, experiment)
    return latest is not None and read_summary(latest)["settings"].get("profile") == profile


def flags_for(module: object, profile: str, common: dict[str, list[str]]) -> list[str]:
    """The shared flags, less those the experiment has no use for (it would refuse them)."""
    settings = parse_settings("", module.PROFILES, module.OPTIONS, ["--profile", profile])
    skipped = unused_options(getattr(module, "UNUSED", {}), settings)
    return [arg for dest, args in common.items() if dest not in skipped for arg in args]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=PROFILES, default="quick", help="profile of every experiment (default: quick)")
    parser.add_argument("--only", nargs="+", choices=EXPERIMENTS, help="run only these experiments (default: all)")
    parser.add_argument("--accelerator", default="auto", choices=("cpu", "gpu", "cuda", "mps", "auto"),
                        help="hardware, as Lightning's Trainer (default: auto)")  # fmt: skip
    parser.add_argument("--data-dir", default=None, help="folder holding MNIST/raw/*.gz (default: $HW1_DATA_DIR, else ./data)")
    parser.add_argument("--out-dir", default="lightning_logs", help="output folder (default: lightning_logs)")
    parser.add_argument("--seed", type=seed_value, default=0, help="seed of every experiment (default: 0)")
    parser.add_argument("--resume", action="store_true", help="skip finished experiments and continue the one in progress")
    parser.add_argument("--no-download", action="store_true", help="never download MNIST")
    args = parser.parse_args(argv)
    out_dir = Path(args.out_dir)
    chosen = [e for e in EXPERIMENTS if not args.only or e in args.only]
    common = {"profile": ["--profile", args.profile], "accelerator": ["--accelerator", args.accelerator],
              "out_dir": ["--out-dir", str(out_dir)], "seed": ["--seed", str(args.seed)],
              "data_dir": ["--data-dir", args.data_dir] if args.data_dir else [],
              "download": ["--no-download"] if args.no_download else [],
              "resume": []}  # fmt: skip
    start = time.monotonic()
    ran, skipped = [], []
    for index, experiment in enumerate(chosen, 1):
        elapsed = time.strftime("%H:%M:%S", time.gmtime(time.monotonic() - start))
        training.PROGRESS.update(prefix=f"experiment {index}/{len(chosen)} {experiment}", runs=0, start=start)
        if args.resume and finished(out_dir, experiment, args.profile):
            print(f"[{training.PROGRESS['prefix']}: finished earlier, skipped, {elapsed} elapsed]", flush=True)
            skipped.append(experiment)
            continue
        print(f"[{training.PROGRESS['prefix']}: starting, {elapsed} elapsed]", flush=True)
        module = importlib.import_module(f"experiments.{experiment}")
        in_progress = args.resume and latest_unfinished(out_dir, experiment) is not None
        module.main(flags_for(module, args.profile, {**common, "resume": ["--resume"] if in_progress else []}))
        ran.append(experiment)
    training.PROGRESS.update(prefix="", runs=0)
    markdown, page = write_report(out_dir, chosen, f"Homework 1 report ({args.profile} profile)")
    total = time.strftime("%H:%M:%S", time.gmtime(time.monotonic() - start))
    print(f"all {len(chosen)} experiments done in {total} ({len(skipped)} skipped as finished)\nreport: {page}\n"
          f"        {markdown}\nTensorBoard: tensorboard --logdir {out_dir}")  # fmt: skip
    if not chosen:
        raise UsageError("no experiment chosen")
    return {"ran": ran, "skipped": skipped, "report": page, "markdown": markdown}


if __name__ == "__main__":
    run_cli(main)
