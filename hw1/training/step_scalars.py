"""Per-step scalars gathered on the device and written once per epoch (no host sync per step)."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback


class BufferedStepScalars(Callback):
    """Keeps per-step scalar tensors on the device and logs them at the end of each training epoch.

    Lightning's `self.log(on_step=True)` converts each value to a Python float as it goes: a host-device sync and
    about a millisecond of bookkeeping per step. Values are logged at the global step they were computed at.
    """

    def __init__(self, every_n_steps: int = 1) -> None:
        self.every_n_steps = every_n_steps
        self.buffer: list[tuple[int, str, torch.Tensor]] = []

    def record(self, step: int, tag: str, value: torch.Tensor) -> None:
        if step % self.every_n_steps == 0:
            self.buffer.append((step, tag, value.detach()))

    def record_series(self, first_step: int, tag: str, values: torch.Tensor) -> None:
        """`values[i]` belongs to step `first_step + i`."""
        for offset, value in enumerate(values.detach()):
            self.record(first_step + offset, tag, value)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.buffer = []

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.buffer and trainer.loggers:
            values = torch.stack([value.float() for _, _, value in self.buffer]).cpu().tolist()
            for logger in trainer.loggers:
                for (step, tag, _), value in zip(self.buffer, values, strict=True):
                    logger.log_metrics({tag: value}, step=step)
        self.buffer = []


class StepLossLogger(BufferedStepScalars):
    """`train/loss_step`: the training loss of every `every_n_steps`-th optimizer step.

    A training item may take several optimizer steps (`hw1.training.modules.NetModule.training_step`): its output `loss`
    holds one value per step, the last of them at `global_step - 1`.
    """

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if loss is not None:
            losses = loss.reshape(-1)
            self.record_series(trainer.global_step - len(losses), "train/loss_step", losses)
