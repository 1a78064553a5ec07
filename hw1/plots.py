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
    return save_figure_at(figure, experiment_dir / "figures" / f"{name}.png")


def save_figure_at(figure: Figure, path: Path) -> Path:
    """Save `figure` as the PNG `path`, log it to TensorBoard in its folder under its stem, and close it.

    Under distributed training only global rank 0 writes.
    """
    from lightning.fabric.utilities.rank_zero import rank_zero_only
    from torch.utils.tensorboard import SummaryWriter

    if rank_zero_only.rank > 0:
        plt.close(figure)
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120, bbox_inches="tight")
    with SummaryWriter(str(path.parent)) as writer:
        writer.add_figure(path.stem, figure, close=True)
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


def metric_against(
    x: list[float],
    series: Mapping[str, tuple[list[float], list[float]]],
    xlabel: str,
    ylabel: str,
    title: str,
    log_x: bool = True,
    log_y: bool = False,
    right: tuple[str, Mapping[str, list[float]]] | None = None,
) -> Figure:
    """Lines of mean ± spread against x (e.g. parameters or batch size); optional series on a right-hand axis."""
    figure, axis = plt.subplots(figsize=(7.5, 4.8))
    for label, (mean, spread) in series.items():
        axis.errorbar(x, mean, yerr=spread, marker="o", markersize=4, capsize=3, label=label)
    if log_x:
        axis.set_xscale("log")
    if log_y:
        axis.set_yscale("log")
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.grid(alpha=0.3, which="both")
    handles, labels = axis.get_legend_handles_labels()
    if right is not None:
        twin = axis.twinx()
        for (label, values), color in zip(right[1].items(), ("tab:red", "tab:purple", "tab:brown"), strict=False):
            twin.plot(x, values, "--s", color=color, markersize=4, label=label)
        twin.set_ylabel(right[0])
        if all(v > 0 for values in right[1].values() for v in values):
            twin.set_yscale("log")
        more_handles, more_labels = twin.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    axis.legend(handles, labels, fontsize=8)
    axis.set_title(title)
    figure.tight_layout()
    return figure


def interpolation_curves(alphas: list[float], results: Mapping[str, Mapping[str, list[float]]], title: str) -> Figure:
    """Loss (log scale) and accuracy of θα = (1 − α)θ1 + αθ2 against α, train and test (Keskar et al., Fig. 3)."""
    figure, (loss_axis, acc_axis) = plt.subplots(1, 2, figsize=(12, 4.5))
    for split, values in results.items():
        loss_axis.plot(alphas, values["loss"], marker=".", label=split)
        acc_axis.plot(alphas, values["acc"], marker=".", label=split)
    loss_axis.set_yscale("log")
    for axis, ylabel in ((loss_axis, "cross-entropy"), (acc_axis, "accuracy")):
        for endpoint in (0, 1):
            axis.axvline(endpoint, color="grey", linewidth=0.8, linestyle=":")
        axis.set_xlabel("α  (0: first model, 1: second model)")
        axis.set_ylabel(ylabel)
        axis.grid(alpha=0.3, which="both")
        axis.legend()
    figure.suptitle(title)
    figure.tight_layout()
    return figure
