"""Snapshots of a model's parameters during training, for PCA of optimization trajectories."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from hw1.training.modules import NetModule
from hw1.training.snapshots import write_snapshot
from hw1.training.trainer_state import datamodule_of


class WeightRecorder(Callback):
    """Before the first step and after every `every_n_epochs` epochs, saves `<log_dir>/weights/epoch=NNN.pt`.

    Each file holds the flattened parameters (`vector`), their `names` and `shapes`, the number of epochs
    trained (`epoch`), and the train and test loss and accuracy of that very model from full passes in eval mode
    (the module's `evaluate` over the datamodule's `train_eval_dataloader` and `test_dataloader`). Only global
    rank 0 writes; files are written atomically, so a resumed run just rewrites the same epochs.
    """

    def __init__(self, every_n_epochs: int = 3) -> None:
        self.every_n_epochs = every_n_epochs

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch == 0 and trainer.global_step == 0:
            self._record(trainer, pl_module, 0)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        epochs_done = trainer.current_epoch + 1
        if epochs_done % self.every_n_epochs == 0:
            self._record(trainer, pl_module, epochs_done)

    def _record(self, trainer: L.Trainer, pl_module: L.LightningModule, epoch: int) -> None:
        datamodule, module = datamodule_of(trainer), cast(NetModule, pl_module)
        train = module.evaluate(datamodule.train_eval_dataloader())
        test = module.evaluate(datamodule.test_dataloader())
        named = [(name, p.detach()) for name, p in pl_module.named_parameters()]
        snapshot = {
            "epoch": epoch,
            "names": [name for name, _ in named],
            "shapes": [tuple(p.shape) for _, p in named],
            "vector": torch.cat([p.flatten() for _, p in named]).float().cpu(),
            **{f"train_{key}": value for key, value in train.items()},
            **{f"test_{key}": value for key, value in test.items()},
        }
        write_snapshot(Path(trainer.log_dir or trainer.default_root_dir), snapshot)
