"""Figures: saved as PNG and logged to TensorBoard under the experiment's `figures` run."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

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
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_ylabel(ylabel)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def loss_curves(curves: Mapping[str, Curve], title: str, xlabel: str) -> Figure:
    """One line per model, log y."""
    figure, axis = plt.subplots(figsize=(7, 4.5))
    for label, (x, y) in curves.items():
        axis.plot(x, y, label=label, linewidth=1)
    axis.set_yscale("log")
    axis.set_xlabel(xlabel)
    axis.set_ylabel("training loss")
    axis.set_title(title)
    axis.grid(alpha=0.3, which="both")
    axis.legend()
    figure.tight_layout()
    return figure


def function_fits(x: list[float], truth: list[float], predictions: Mapping[str, list[float]], title: str) -> Figure:
    """The ground truth and every model's prediction on the evaluation grid."""
    figure, axis = plt.subplots(figsize=(7, 4.5))
    axis.plot(x, truth, color="black", linewidth=2.5, label="ground truth")
    for label, y in predictions.items():
        axis.plot(x, y, linewidth=1.2, label=label)
    axis.set_xlabel("x")
    axis.set_ylabel("y")
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    return figure


COMPARISON_PANELS = (
    ("train/loss_mean", "train loss (mean over epoch)"),
    ("train/acc_mean", "train accuracy (mean over epoch)"),
    ("test/loss", "test loss"),
    ("test/acc", "test accuracy"),
)


def model_comparison(curves_by_model: Mapping[str, Mapping[str, Curve]], title: str) -> Figure:
    """A 2×2 grid — train loss, train accuracy, test loss, test accuracy against epoch — one line per model."""
    figure, axes = plt.subplots(2, 2, figsize=(11, 8), sharex=True)
    for axis, (tag, ylabel) in zip(axes.flat, COMPARISON_PANELS, strict=True):
        for label, curves in curves_by_model.items():
            epochs, values = curves[tag]
            axis.plot(epochs, values, marker="o", markersize=3, label=label)
        if "loss" in tag:
            axis.set_yscale("log")
        axis.set_ylabel(ylabel)
        axis.grid(alpha=0.3, which="both")
    for axis in axes[1]:
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0, 0].legend(fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def stacked_series(series: Mapping[str, Curve], xlabel: str, title: str) -> Figure:
    """Panels stacked over one shared x axis, log y: e.g. gradient norm and loss against iteration."""
    figure, axes = plt.subplots(len(series), 1, figsize=(8, 2.8 * len(series)), sharex=True, squeeze=False)
    for axis, (ylabel, (x, y)) in zip(axes[:, 0], series.items(), strict=True):
        axis.plot(x, y, linewidth=0.8)
        axis.set_yscale("log")
        axis.set_ylabel(ylabel)
        axis.grid(alpha=0.3, which="both")
    axes[-1, 0].set_xlabel(xlabel)
    figure.suptitle(title)
    figure.tight_layout()
    return figure
