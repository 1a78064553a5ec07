"""Parameter snapshots of a run (`<run>/weights/epoch=NNN.pt`), written by `callbacks.weights.WeightRecorder` and read
back for PCA of optimization trajectories."""

from __future__ import annotations

from pathlib import Path

import torch
from lightning.fabric.utilities.rank_zero import rank_zero_only

from hw1.runs.files import save_atomically

WEIGHTS_FOLDER = "weights"


@rank_zero_only
def write_snapshot(run_dir: Path, snapshot: dict) -> None:
    """Save one snapshot as `<run_dir>/weights/epoch=NNN.pt`, atomically (only global rank 0 writes)."""
    save_atomically(snapshot, run_dir / WEIGHTS_FOLDER / f"epoch={snapshot['epoch']:03d}.pt")


def read_snapshots(log_dir: str | Path) -> list[dict]:
    """The snapshots a WeightRecorder left in a run folder, in epoch order."""
    files = sorted((Path(log_dir) / WEIGHTS_FOLDER).glob("epoch=*.pt"))
    return [torch.load(file, map_location="cpu", weights_only=False) for file in files]
