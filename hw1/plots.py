"""Figures: saved as PNG and logged to TensorBoard under the experiment's `figures` run."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

Curve = tuple[list[int], list[float]]


def save_figure(figure: Figure, experiment_dir: Path, name: str) -> Path:
    """Save `figure` as `<experiment_dir>/figures/<name>.png`, log it to TensorBoard there, and close it."""
    from torch.utils.tensorboard import SummaryWriter

    folder = experiment_dir / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    figure.savefig(path, dpi=120, bbox_inches="tight")
    with SummaryWriter(str(folder)) as writer:
        writer.add_figure(name, figure, close=True)
    return path


def train_test_curves(curves: Mapping[str, Curve], title: str) -> Figure:
    """Two panels against epoch: loss (train and test) and accuracy (train and test)."""
    figure, (loss_axis, acc_axis) = plt.subplots(1, 2, figsize=(11, 4))
    panels = (
        (loss_axis, "loss", (("train/loss_mean", "train (mean over epoch)"), ("test/loss", "test"))),
        (acc_axis, "accuracy", (("train/acc_mean", "train (mean over epoch)"), ("test/acc", "test"))),
    )
    for axis, ylabel, series in panels:
        for tag, label in series:
            epochs, values = curves[tag]
            axis.plot(epochs, values, marker="o", markersize=3, label=label)
        axis.set_xlabel("epoch")
        axis.set_ylabel(ylabel)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(title)
    figure.tight_layout()
    return figure
