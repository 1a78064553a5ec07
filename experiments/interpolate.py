"""Post-hoc linear interpolation between two checkpoints: loss and accuracy of θα = (1 − α)·θ1 + α·θ2.

    python experiments/interpolate.py A.ckpt B.ckpt --out lightning_logs/flatness_interpolation/figures/ab.png

θα is evaluated with torch.func.functional_call on one model (no copy per α), on the full training set the first
checkpoint was trained on (its subset and labels) and on the 10k test set.
"""

import argparse
from pathlib import Path

from hw1.analysis.interpolation import alpha_grid
from hw1.cli.flags import run_cli
from hw1.reporting.analysis_figures import draw_interpolation
from hw1.runs.errors import UsageError
from hw1.runs.settings import finite_float
from hw1.training.fit import torch_device


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", help="checkpoint of θ1 (α = 0)")
    parser.add_argument("second", help="checkpoint of θ2 (α = 1)")
    parser.add_argument("--points", type=int, default=61, help="number of α values (default: 61, a step of 0.05)")
    parser.add_argument("--alpha-min", type=finite_float, default=-1.0, help="smallest α (default: -1)")
    parser.add_argument("--alpha-max", type=finite_float, default=2.0, help="largest α (default: 2)")
    parser.add_argument("--data-dir", default=None, help="folder holding MNIST/raw/*.gz (default: $HW1_DATA_DIR, else ./data)")
    parser.add_argument("--out", type=Path, required=True, help="PNG file to write; a .json with the numbers goes beside it")
    parser.add_argument("--accelerator", choices=("cpu", "gpu", "auto"), default="auto", help="where to evaluate (default: auto)")
    args = parser.parse_args(argv)
    if args.points < 2:
        raise UsageError(f"--points must be at least 2, got {args.points}")
    device = torch_device(args.accelerator)
    alphas = alpha_grid(args.points, args.alpha_min, args.alpha_max)
    return draw_interpolation(args.first, args.second, alphas, args.data_dir, device, args.out)


if __name__ == "__main__":
    run_cli(main)
