"""Figures: saved as PNG with the numbers they draw as JSON beside them, and logged to TensorBoard under the
experiment's `figures` run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import mean, pstdev
from typing import Any

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from hw1.runs.files import write_json_atomically  # noqa: E402
from hw1.runs.launch import global_rank

Curve = tuple[list[Any], ...]  # (x, y), or (x, mean, min, max) over seeds: `mean_band`
BAND = "min–max over seeds"
SD = "sd_over_seeds"  # population standard deviation over the seeds of one point; y is their mean


@dataclass
class Drawing:
    """A figure and the numbers it draws: `series`, a list of {"name", "x", "y", ...} (one per line or set of
    points, with the panel or axis it is on where there are several), and whatever else the figure shows."""

    figure: Figure
    data: dict[str, Any]


def drawn_series(name: str, x: Sequence[Any], y: Sequence[Any], **more: Any) -> dict[str, Any]:
    """One drawn line or set of points, as it goes into a figure's data file."""
    return {"name": name, "x": list(x), "y": list(y), **more}


def mean_band(curves: Sequence[Curve]) -> Curve:
    """One seed's curve as it is; several seeds' as (x, mean, min, max) at the x values every seed has."""
    if len(curves) == 1:
        return curves[0]
    lookups = [dict(zip(curve[0], curve[1], strict=True)) for curve in curves]
    shared = sorted(set.intersection(*(set(lookup) for lookup in lookups)))
    values = [[lookup[x] for lookup in lookups] for x in shared]
    return shared, [mean(v) for v in values], [min(v) for v in values], [max(v) for v in values]


def mean_sd(groups: list[list[float]]) -> tuple[list[float], list[float] | None]:
    """The mean of each group of repeats and their population sd (None, no error bars, when no group repeats)."""
    means = [mean(group) for group in groups]
    if all(len(group) == 1 for group in groups):
        return means, None
    return means, [pstdev(group) for group in groups]


def plot_curve(axis: Any, curve: Curve, label: str, **style: Any) -> None:
    """A line, with a shaded min–max band when the curve is a mean over seeds."""
    x, y, *band = curve
    (line,) = axis.plot(x, y, label=f"{label} (mean, band: {BAND})" if band else label, **style)
    if band:
        axis.fill_between(x, band[0], band[1], color=line.get_color(), alpha=0.2, linewidth=0)


def curve_series(name: str, curve: Curve, **more: Any) -> dict[str, Any]:
    """A drawn curve for the data file, with its band (`band_min`, `band_max`, `band`) when it has one."""
    x, y, *band = curve
    return drawn_series(name, x, y, **more, **({"band_min": band[0], "band_max": band[1], "band": BAND} if band else {}))


def data_path(figure: str | Path) -> Path:
    """The data file beside a figure: `NAME.json` for `NAME.png`."""
    return Path(figure).with_suffix(".json")


def save_figure(drawing: Drawing, experiment_dir: Path, name: str) -> Path:
    """Save `<experiment_dir>/figures/<name>.png` and its numbers as `<name>.json`, log it to TensorBoard, close it."""
    return save_figure_at(drawing, experiment_dir / "figures" / f"{name}.png")


def save_figure_at(drawing: Drawing, path: Path) -> Path:
    """Save the figure as the PNG `path` and its numbers beside it (`data_path`), log it to TensorBoard in its folder
    under its stem, and close it. Under distributed training only global rank 0 writes."""
    from torch.utils.tensorboard import SummaryWriter

    figure = drawing.figure
    if global_rank() > 0:
        plt.close(figure)
        return path
    write_json_atomically({"figure": path.name, **drawing.data}, data_path(path), indent=1)
    figure.savefig(path, dpi=120, bbox_inches="tight")
    with SummaryWriter(str(path.parent)) as writer:
        writer.add_figure(path.stem, figure, close=True)
    return path


def train_test_curves(curves: Mapping[str, Curve], title: str) -> Drawing:
    """Two panels against epoch: loss (train and test) and accuracy (train and test)."""
    figure, (loss_axis, acc_axis) = plt.subplots(1, 2, figsize=(11, 4))
    panels = (
        (loss_axis, "loss", (("train/loss_mean", "train (mean over epoch)"), ("test/loss", "test"))),
        (acc_axis, "accuracy", (("train/acc_mean", "train (mean over epoch)"), ("test/acc", "test"))),
    )
    for axis, ylabel, pairs in panels:
        for tag, label in pairs:
            plot_curve(axis, curves[tag], label, marker="o", markersize=3)
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_ylabel(ylabel)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(title)
    figure.tight_layout()
    drawn = [curve_series(label, curves[tag], tag=tag, panel=ylabel) for _, ylabel, pairs in panels for tag, label in pairs]
    return Drawing(figure, {"title": title, "x_label": "epoch", "series": drawn})


def loss_curves(curves: Mapping[str, Curve], title: str, xlabel: str) -> Drawing:
    """One line per model, log y."""
    figure, axis = plt.subplots(figsize=(7, 4.5))
    for label, curve in curves.items():
        plot_curve(axis, curve, label, linewidth=1)
    axis.set_yscale("log")
    axis.set_xlabel(xlabel)
    axis.set_ylabel("training loss")
    axis.set_title(title)
    axis.grid(alpha=0.3, which="both")
    axis.legend()
    figure.tight_layout()
    drawn = [curve_series(label, curve) for label, curve in curves.items()]
    return Drawing(figure, {"title": title, "x_label": xlabel, "y_label": "training loss", "series": drawn})


def function_fits(x: list[float], truth: list[float], predictions: Mapping[str, Curve], title: str) -> Drawing:
    """The ground truth and every model's prediction (a curve over the evaluation grid x) on the grid."""
    figure, axis = plt.subplots(figsize=(7, 4.5))
    axis.plot(x, truth, color="black", linewidth=2.5, label="ground truth")
    for label, curve in predictions.items():
        plot_curve(axis, curve, label, linewidth=1.2)
    axis.set_xlabel("x")
    axis.set_ylabel("y")
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    drawn = [drawn_series("ground truth", x, truth)] + [curve_series(label, curve) for label, curve in predictions.items()]
    return Drawing(figure, {"title": title, "x_label": "x", "y_label": "y", "series": drawn})


COMPARISON_PANELS = (
    ("train/loss_mean", "train loss (mean over epoch)"),
    ("train/acc_mean", "train accuracy (mean over epoch)"),
    ("test/loss", "test loss"),
    ("test/acc", "test accuracy"),
)


def model_comparison(curves_by_model: Mapping[str, Mapping[str, Curve]], title: str) -> Drawing:
    """A 2×2 grid — train loss, train accuracy, test loss, test accuracy against epoch — one line per model."""
    figure, axes = plt.subplots(2, 2, figsize=(11, 8), sharex=True)
    for axis, (tag, ylabel) in zip(axes.flat, COMPARISON_PANELS, strict=True):
        for label, curves in curves_by_model.items():
            plot_curve(axis, curves[tag], label, marker="o", markersize=3)
        if "loss" in tag and any(value > 0 for curves in curves_by_model.values() for value in curves[tag][1]):
            axis.set_yscale("log")  # a panel can be empty: runs that stopped at their target before a test pass
        axis.set_ylabel(ylabel)
        axis.grid(alpha=0.3, which="both")
    for axis in axes[1]:
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0, 0].legend(fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    drawn = [curve_series(label, curves[tag], tag=tag, panel=ylabel) for tag, ylabel in COMPARISON_PANELS
             for label, curves in curves_by_model.items()]  # fmt: skip
    return Drawing(figure, {"title": title, "x_label": "epoch", "series": drawn})


def stacked_series(panels: Mapping[str, Curve], xlabel: str, title: str) -> Drawing:
    """Panels stacked over one shared x axis, log y: e.g. gradient norm and loss against iteration."""
    figure, axes = plt.subplots(len(panels), 1, figsize=(8, 2.8 * len(panels)), sharex=True, squeeze=False)
    for axis, (ylabel, (x, y)) in zip(axes[:, 0], panels.items(), strict=True):
        axis.plot(x, y, linewidth=0.8)
        axis.set_yscale("log")
        axis.set_ylabel(ylabel)
        axis.grid(alpha=0.3, which="both")
    axes[-1, 0].set_xlabel(xlabel)
    figure.suptitle(title)
    figure.tight_layout()
    drawn = [drawn_series(ylabel, x, y, panel=ylabel) for ylabel, (x, y) in panels.items()]
    return Drawing(figure, {"title": title, "x_label": xlabel, "series": drawn})


def metric_against(
    x: Sequence[float],
    series_by_label: Mapping[str, tuple[list[float], list[float] | None]],
    xlabel: str,
    ylabel: str,
    title: str,
    log_x: bool = True,
    log_y: bool = False,
    right: tuple[str, Mapping[str, list[float]]] | None = None,
    spread_label: str = "spread",
) -> Drawing:
    """Lines of mean ± spread (None: no error bars) against x (e.g. parameters or batch size); optional series on a
    right-hand axis. `spread_label` names the error bars in the data file (e.g. "sd over seeds")."""
    figure, axis = plt.subplots(figsize=(7.5, 4.8))
    for label, (centre, spread) in series_by_label.items():
        shown = label if spread is None else f"{label} (mean ± {spread_label.replace('_', ' ')})"
        axis.errorbar(x, centre, yerr=spread, marker="o", markersize=4, capsize=3, label=shown)
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
    drawn = [drawn_series(label, x, centre, axis=ylabel, **({spread_label: spread} if spread is not None else {}))
             for label, (centre, spread) in series_by_label.items()]  # fmt: skip
    right_axis, right_series = right if right else ("", {})
    drawn += [drawn_series(label, x, values, axis=right_axis) for label, values in right_series.items()]
    return Drawing(figure, {"title": title, "x_label": xlabel, "series": drawn})


def interpolation_curves(alphas: list[float], results: Mapping[str, Mapping[str, list[float]]], title: str) -> Drawing:
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
    drawn = [drawn_series(split, alphas, values[metric], panel=metric) for split, values in results.items()
             for metric in ("loss", "acc")]  # fmt: skip
    return Drawing(figure, {"title": title, "x_label": "alpha", "series": drawn})


def spectral_densities(curves: Mapping[str, Mapping[str, Any]], title: str) -> Drawing:
    """Eigenvalue densities (log y), one line per label; each curve's extra fields (nodes, weights, σ) go to the data
    file with it."""
    figure, axis = plt.subplots(figsize=(7.5, 4.8))
    top = max(max(curve["y"]) for curve in curves.values())
    for label, curve in curves.items():
        axis.plot(curve["x"], curve["y"], label=label, linewidth=1)
    axis.set_yscale("log")
    axis.set_ylim(bottom=top * 1e-8)
    axis.set_xlabel("eigenvalue")
    axis.set_ylabel("density")
    axis.grid(alpha=0.3, which="both")
    axis.legend(fontsize=8)
    axis.set_title(title)
    figure.tight_layout()
    drawn = [drawn_series(label, curve["x"], curve["y"], **{k: v for k, v in curve.items() if k not in ("x", "y")})
             for label, curve in curves.items()]  # fmt: skip
    return Drawing(figure, {"title": title, "x_label": "eigenvalue", "series": drawn})


SURFACE_PANELS = (("train", "loss"), ("test", "loss"), ("train", "acc"), ("test", "acc"))


def surface_contours(a: list[float], b: list[float], grids: Mapping[str, Mapping[str, list[list[float]]]],
                     points: Mapping[str, tuple[float, float]], title: str, axis_labels: tuple[str, str]) -> Drawing:  # fmt: skip
    """Contours of train and test loss (log-spaced levels) and accuracy over a plane of parameter space, with the
    named points (the checkpoints) marked; each panel's grid (rows: b, columns: a) goes to the data file as `z`."""
    figure, axes = plt.subplots(2, 2, figsize=(11, 9))
    for axis, (split, metric) in zip(axes.flat, SURFACE_PANELS, strict=True):
        values = np.asarray(grids[split][metric])
        if metric == "loss":
            levels = np.geomspace(max(values.min(), 1e-6), values.max(), 25)
            shown = axis.contourf(a, b, np.maximum(values, levels[0]), levels=levels, cmap="viridis",
                                  norm=LogNorm())  # fmt: skip
        else:
            shown = axis.contourf(a, b, values, levels=20, cmap="viridis")
        axis.contour(a, b, values, levels=shown.levels[::3], colors="white", linewidths=0.5)
        figure.colorbar(shown, ax=axis, label=f"{split} {'cross-entropy' if metric == 'loss' else 'accuracy'}")
        for name, (x, y) in points.items():
            axis.plot(x, y, "r*", markersize=10)
            axis.annotate(name, (x, y), color="red", fontsize=7, xytext=(4, 4), textcoords="offset points")
        axis.set_xlabel(axis_labels[0])
        axis.set_ylabel(axis_labels[1])
        axis.set_title(f"{split} {metric}")
    figure.suptitle(title)
    figure.tight_layout()
    drawn = [drawn_series(f"{split} {metric}", a, b, z=grids[split][metric], panel=f"{split} {metric}")
             for split, metric in SURFACE_PANELS]  # fmt: skip
    return Drawing(figure, {"title": title, "x_label": axis_labels[0], "y_label": axis_labels[1], "series": drawn,
                            "points": {name: list(point) for name, point in points.items()}})
