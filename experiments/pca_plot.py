"""Post-hoc PCA of recorded weight trajectories: reads an experiment folder, draws the whole model and the first layer.

    python experiments/pca_plot.py lightning_logs/optimization_pca
"""

import argparse
from pathlib import Path

from hw1.cli import run_cli
from hw1.pca import draw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment_dir", type=Path, help="folder of the experiment, e.g. lightning_logs/optimization_pca")
    for figure in draw(parser.parse_args().experiment_dir):
        print(f"figure: {figure}")


if __name__ == "__main__":
    run_cli(main)
