"""Per-step training loss, gathered on the device and written once per epoch (no host sync per step)."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback


class StepLossLogger(Callback):
    """Logs `train/loss_step` for every `every_n_steps`-th optimizer step, at the global step it was computed at.

    Lightning's `self.log(on_step=True)` converts each value to a Python float as it goes, a host-device sync and
    about a millisecond of bookkeeping per step; this keeps the losses as tensors until the epoch ends.
    """

    def __init__(self, every_n_steps: int = 1, tag: str = "train/loss_step") -> None:
        self.every_n_steps, self.tag = every_n_steps, tag
        self.steps: list[int] = []
        self.losses: list[torch.Tensor] = []

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.steps, self.losses = [], []

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        step = trainer.global_step - 1
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if loss is not None and step % self.every_n_steps == 0:
            self.steps.append(step)
            self.losses.append(loss.detach())

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.losses or not trainer.loggers:
            return
        values = torch.stack(self.losses).float().cpu().tolist()
        for logger in trainer.loggers:
            for step, value in zip(self.steps, values, strict=True):
                logger.log_metrics({self.tag: value}, step=step)
        self.steps, self.losses = [], []
