"""PCA of weight trajectories recorded by `callbacks.weights.WeightRecorder`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA

from hw1.runs.errors import UsageError
from hw1.training.snapshots import WEIGHTS_FOLDER, read_snapshots


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


