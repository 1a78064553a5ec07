"""Checkpoint files: written atomically, `last.ckpt` after every epoch for --resume, weights every few epochs for
post-hoc scripts, and read back with a one-line error when damaged."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO

from hw1.runs.errors import UsageError
from hw1.runs.files import save_atomically
from hw1.runs.settings import flag_of

LAST_CHECKPOINT = "last.ckpt"
RUN_SETTINGS_KEY = "hw1_run_settings"  # a checkpoint's record of the settings its run trained with
RESUMABLE_CHANGES = ("max_epochs", "eval_every", "data_dir")  # what --resume may change: train longer, evaluate more
# or less often, read the same files from elsewhere


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


class RunSettingsInCheckpoint(Callback):
    """Puts the run's recorded settings into every checkpoint it writes, for `check_resumed_settings`."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = dict(settings)

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        checkpoint[RUN_SETTINGS_KEY] = self.settings


def check_resumed_settings(checkpoint: dict[str, Any], path: Path, settings: dict[str, Any]) -> None:
    """Refuse to continue a checkpoint under other settings than it was trained with (`RESUMABLE_CHANGES` aside).

    The checkpoint's own record of them, or, in one written without it, its module's and data module's
    hyperparameters.
    """
    trained = checkpoint.get(RUN_SETTINGS_KEY) or {**checkpoint.get("hyper_parameters", {}),
                                                   **checkpoint.get("datamodule_hyper_parameters", {})}  # fmt: skip
    differing = [f"{key} {_shown(settings.get(key))} (trained with {_shown(value)})" for key, value in trained.items()
                 if key not in RESUMABLE_CHANGES and _shown(settings.get(key)) != _shown(value)]  # fmt: skip
    if differing:
        raise UsageError(f"--resume would continue {path} under other settings than it was trained with: "
                         f"{', '.join(differing)}; resume with its settings (only "
                         f"{', '.join(flag_of(key) for key in RESUMABLE_CHANGES)} may change), or leave "
                         f"out --resume to start a new result folder")  # fmt: skip


def _shown(value: Any) -> str:
    return json.dumps(value, default=str, sort_keys=True)


def run_folder_of(checkpoint: str) -> str | None:
    """The run folder a checkpoint `<run>/checkpoints/<file>.ckpt` belongs to, None for a checkpoint elsewhere."""
    path = Path(checkpoint)
    return path.parents[1].name if path.parent.name == "checkpoints" and len(path.parents) > 2 else None


def read_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint on the CPU; an unreadable one is a UsageError naming the file."""
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # noqa: BLE001 - any unpickling failure means the same thing to the user
        raise UsageError(
            f"checkpoint {path} is unreadable ({type(error).__name__}); delete it, or its version folder to start over"
        ) from None
