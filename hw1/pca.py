"""PCA of weight trajectories recorded by `callbacks.weights.WeightRecorder`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA

from hw1.errors import UsageError
from hw1.plots import Drawing, drawn_series, plt, save_figure
from hw1.snapshots import WEIGHTS_FOLDER, read_snapshots


def first_layer_mask(names: list[str], shapes: list[tuple[int, ...]]) -> np.ndarray:
    """Boolean mask over the flat vector selecting the parameters of the first module that has any."""
    module_of = [name.rsplit(".", 1)[0] for name in names]
    sizes = [int(np.prod(shape)) for shape in shapes]
    return np.concatenate([np.full(size, module == module_of[0]) for module, size in zip(module_of, sizes, strict=True)])


def trajectories(result_dir: Path) -> dict[str, list[dict]]:
    """Run name → the snapshots each run of one result folder recorded."""
    run_dirs = sorted(folder.parent for folder in result_dir.glob(f"*/{WEIGHTS_FOLDER}") if folder.is_dir())
    runs = {run_dir.name: read_snapshots(run_dir) for run_dir in run_dirs}
    runs = {name: snapshots for name, snapshots in runs.items() if snapshots}
    if not runs:
        raise UsageError(f"no recorded weights under {result_dir}/*/{WEIGHTS_FOLDER}; pass a result folder of"
                         " optimization_pca, e.g. lightning_logs/optimization_pca/version_0")  # fmt: skip
    return runs


def project_trajectories(runs: dict[str, list[dict]], first_layer: bool = False) -> tuple[dict[str, np.ndarray], PCA]:
    """Fit one 2-component PCA on every snapshot of every run; return each run's points in that plane."""
    first = next(iter(runs.values()))[0]
    mask = first_layer_mask(first["names"], first["shapes"]) if first_layer else slice(None)
    for name, snapshots in runs.items():
        if any(s["names"] != first["names"] or s["shapes"] != first["shapes"] for s in snapshots):
            raise UsageError(f"run {name} has a different architecture from the others; PCA needs one shape")
    matrices = {name: np.stack([s["vector"].numpy()[mask] for s in snapshots]) for name, snapshots in runs.items()}
    pca = PCA(n_components=2).fit(np.concatenate(list(matrices.values())))
    return {name: pca.transform(matrix) for name, matrix in matrices.items()}, pca


def draw(result_dir: Path) -> list[Path]:
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
        for color, (run, xy) in zip(plt.cm.tab10.colors, points.items(), strict=False):
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
