"""What a Lightning Trainer holds but declares nowhere a type checker can see (its connectors set them at run time)."""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback


def callbacks_of(trainer: L.Trainer) -> list[Callback]:
    """The Trainer's callbacks, as its callback connector ordered them."""
    return trainer.callbacks  # type: ignore[attr-defined]


def datamodule_of(trainer: L.Trainer) -> Any:
    """The data module the Trainer is fitting (None outside `fit`)."""
    return trainer.datamodule  # type: ignore[attr-defined]
