"""Input sensitivity of a classifier, logged after every epoch."""

from __future__ import annotations

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from hw1.data import seeded_generator
from hw1.flatness import classifier_sensitivity


class SensitivityLogger(Callback):
    """On a fixed random subset of `num_samples` test images, after every epoch, logs
    `sensitivity/jacobian` (Novak et al. 2018: mean Frobenius norm of the Jacobian of the softmax outputs w.r.t. the
    input) and `sensitivity/loss_gradient` (the assignment's: mean Frobenius norm of the gradient of the loss w.r.t.
    the input), both vectorised with torch.func and computed in eval mode."""

    def __init__(self, num_samples: int = 256, seed: int = 0) -> None:
        self.num_samples, self.seed = num_samples, seed
        self.last: dict[str, float] = {}

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        images, labels = trainer.datamodule.test
        count = min(self.num_samples, len(images))
        chosen = torch.randperm(len(images), generator=seeded_generator(self.seed, 7))[:count].to(images.device)
        self.inputs, self.targets = images[chosen], labels[chosen]

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.last = classifier_sensitivity(pl_module, self.inputs.to(pl_module.device), self.targets.to(pl_module.device))
        for name, value in self.last.items():
            pl_module.log(f"sensitivity/{name}", value, sync_dist=True)
