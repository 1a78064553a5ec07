"""Input sensitivity of a classifier, logged after every epoch."""

from __future__ import annotations

import lightning as L
from lightning.pytorch.callbacks import Callback
from torch import Tensor

from hw1.analysis.sensitivity import classifier_sensitivity


class SensitivityLogger(Callback):
    """On the given inputs (e.g. `MNISTDataModule.test_sample`), after every epoch, logs `sensitivity/jacobian`
    (Novak et al. 2018: mean Frobenius norm of the Jacobian of the softmax outputs w.r.t. the input) and
    `sensitivity/loss_gradient` (the assignment's: mean Frobenius norm of the gradient of the loss w.r.t. the input),
    both vectorised and computed in eval mode. Read them back from the run's logs like any logged scalar."""

    def __init__(self, inputs: Tensor, targets: Tensor) -> None:
        self.inputs, self.targets = inputs, targets

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.inputs, self.targets = self.inputs.to(pl_module.device), self.targets.to(pl_module.device)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        for name, value in classifier_sensitivity(pl_module, self.inputs, self.targets).items():
            pl_module.log(f"sensitivity/{name}", value, sync_dist=True)
