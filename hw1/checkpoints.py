"""Checkpoint files: written atomically, `last.ckpt` after every epoch for --resume, weights every few epochs for
post-hoc scripts, and read back with a one-line error when damaged."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO

from hw1.errors import UsageError
from hw1.files import save_atomically

LAST_CHECKPOINT = "last.ckpt"


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes each checkpoint to a temporary file beside it, syncs it, then renames it into place.

    A kill at any moment leaves either the previous checkpoint or the new one, never a truncated file.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any = None) -> None:
        save_atomically(checkpoint, Path(path))


class LastCheckpoint(ModelCheckpoint):
    """`last.ckpt`: the full training state after every epoch, for `--resume`, replaced in place each time.

    (Lightning's own `save_last` writes it only when another checkpoint is saved in the same step.) Saved at the end
    of the training epoch, after the module's epoch-end hook, which has written and flushed the epoch's train/*_mean
    points (the test pass logged its own before): a kill after the checkpoint never leaves an epoch without its
    points, which the resumed run would not log again.
    """

    def __init__(self, dirpath: Path) -> None:
        super().__init__(
            dirpath=dirpath, filename=Path(LAST_CHECKPOINT).stem, save_top_k=1, every_n_epochs=1,
            enable_version_counter=False, save_on_train_epoch_end=True,
        )  # fmt: skip


class EpochCheckpoint(ModelCheckpoint):
    """`epoch=NNN.ckpt` (NNN the 0-based index of the finished epoch): weights and hparams, for post-hoc scripts."""

    def __init__(self, dirpath: Path, every_n_epochs: int) -> None:
        super().__init__(
            dirpath=dirpath,
            filename="epoch={epoch:03d}",
            auto_insert_metric_name=False,
            save_top_k=-1,
            every_n_epochs=every_n_epochs,
            save_weights_only=True,
            save_on_train_epoch_end=True,
        )


def read_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint on the CPU; an unreadable one is a UsageError naming the file."""
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # noqa: BLE001 - any unpickling failure means the same thing to the user
        raise UsageError(
            f"checkpoint {path} is unreadable ({type(error).__name__}); delete it, or its version folder to start over"
        ) from None
