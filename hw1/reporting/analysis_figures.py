"""Figures of the analyses: the loss along a line between two minima, weight trajectories in PCA coordinates."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import torch
from matplotlib.colors import ListedColormap

from hw1.analysis.interpolation import interpolate
from hw1.analysis.pca import project_trajectories, trajectories
from hw1.reporting.plots import Drawing, drawn_series, interpolation_curves, plt, save_figure, save_figure_at
from hw1.runs.console import CONSOLE
from hw1.runs.errors import UsageError
from hw1.training.checkpoints import run_folder_of


def draw_interpolation(first: str, second: str, alphas: list[float], data_dir: str | None, device: torch.device, out: Path,
         download: bool = True, title: str | None = None) -> Path:  # fmt: skip
    """Evaluate the interpolation, save the figure at `out` and its numbers beside it (`.json`); the title names the
    two runs unless given."""
    results = interpolate(first, second, alphas, data_dir, device, download)
    title = title or f"{run_folder_of(first) or first} → {run_folder_of(second) or second}"
    drawing = interpolation_curves(alphas, {split: results[split] for split in ("train", "test")}, title)
    drawing.data.update(first=first, second=second, alphas=alphas, **results)
    figure = save_figure_at(drawing, out)
    CONSOLE.detail(f"figure: {figure}")
    return figure


def draw_trajectories(result_dir: Path) -> list[Path]:
    """Fit PCA on the recorded weights of all runs and save `pca_whole_model.png` and `pca_first_layer.png`.

    Each figure's data file holds what was fitted (the whole model or the first layer, and how many parameters), the
    explained-variance ratios, and per run the PC1/PC2 coordinates of every snapshot with its epoch and test accuracy.
    """
    if not result_dir.is_dir():
        raise UsageError(f"{result_dir} is not a folder; pass a result folder, e.g. lightning_logs/optimization_pca/version_0")
    runs = trajectories(result_dir)
    figures = []
    for first_layer, name in ((False, "pca_whole_model"), (True, "pca_first_layer")):
        points, pca = project_trajectories(runs, first_layer)
        figure, axis = plt.subplots(figsize=(8, 6.5))
        for color, (run, xy) in zip(cast(list, cast(ListedColormap, plt.get_cmap("tab10")).colors), points.items(), strict=False):
            axis.plot(xy[:, 0], xy[:, 1], "-o", color=color, markersize=4, linewidth=1, label=run)
            axis.plot(xy[0, 0], xy[0, 1], "s", color=color, markersize=8)  # the start, before any step
            for (x, y), snapshot in zip(xy, runs[run], strict=True):
                axis.annotate(f"{snapshot['test_acc']:.2f}", (x, y), fontsize=6, color=color,
                              xytext=(3, 3), textcoords="offset points")  # fmt: skip
        ratio = pca.explained_variance_ratio_
        axis.set_xlabel(f"PC1 ({ratio[0]:.1%} of variance)")
        axis.set_ylabel(f"PC2 ({ratio[1]:.1%} of variance)")
        part = "first layer" if first_layer else "whole model"
        epochs = [s["epoch"] for s in next(iter(runs.values()))]
        axis.set_title(f"Weights of the {part}, epochs {epochs[0]}–{epochs[-1]} every {epochs[1] - epochs[0]}"
                       " (labels: test accuracy)" if len(epochs) > 1 else f"Weights of the {part}")  # fmt: skip
        axis.legend(fontsize=8)
        axis.grid(alpha=0.3)
        data = {
            "title": axis.get_title(), "x_label": "PC1", "y_label": "PC2",
            "fitted": part, "parameters": int(pca.n_features_in_),
            "explained_variance_ratio": [float(r) for r in ratio],
            "series": [drawn_series(run, xy[:, 0].tolist(), xy[:, 1].tolist(), epoch=[s["epoch"] for s in runs[run]],
                              test_acc=[s["test_acc"] for s in runs[run]]) for run, xy in points.items()],
        }  # fmt: skip
        figures.append(save_figure(Drawing(figure, data), result_dir, name))
    return figures
