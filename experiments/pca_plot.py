"""Post-hoc PCA of recorded weight trajectories: reads a result folder, draws the whole model and the first layer.

    python experiments/pca_plot.py lightning_logs/optimization_pca/version_0
"""

import argparse
from pathlib import Path

from hw1.cli.flags import run_cli
from hw1.reporting.analysis_figures import draw_trajectories


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("result_dir", type=Path, help="a result folder of optimization_pca, e.g."
                        " lightning_logs/optimization_pca/version_0")  # fmt: skip
    for figure in draw_trajectories(parser.parse_args().result_dir):
        print(f"figure: {figure}")


if __name__ == "__main__":
    run_cli(main)
