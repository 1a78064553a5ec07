"""LightningModules: a net from the registry, its loss, its metrics and its optimizer."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from hw1.errors import UsageError
from hw1.nets import build_net, count_parameters

LR_SCHEDULES = ("constant", "cosine")
OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "rmsprop": torch.optim.RMSprop,
}
_USES_MOMENTUM = ("sgd", "rmsprop")


def build_optimizer(
    name: str, parameters: Iterable[nn.Parameter], lr: float, momentum: float = 0.0, weight_decay: float = 0.0
) -> torch.optim.Optimizer:
    """The optimizer `name` (sgd, adam, rmsprop); momentum applies to sgd and rmsprop only."""
    if name not in OPTIMIZERS:
        raise UsageError(f"unknown optimizer {name!r}; choose one of: {', '.join(OPTIMIZERS)}")
    if lr <= 0:
        raise UsageError(f"learning rate must be positive, got {lr}; pass e.g. --lr 0.01")
    if momentum < 0 or weight_decay < 0:
        raise UsageError(f"momentum and weight decay must be non-negative, got {momentum} and {weight_decay}")
    options: dict[str, float] = {"lr": lr, "weight_decay": weight_decay}
    if name in _USES_MOMENTUM:
        options["momentum"] = momentum
    elif momentum:
        raise UsageError(f"--momentum applies to sgd and rmsprop, not {name}; leave it out or pass --momentum 0")
    return OPTIMIZERS[name](parameters, **options)


class NetModule(L.LightningModule):
    """A registry net with its optimizer; subclasses add the loss and metrics and call `save_hyperparameters()`."""

    def __init__(
        self,
        net: str,
        net_config: dict[str, Any] | None,
        optimizer: str,
        lr: float,
        momentum: float,
        weight_decay: float,
        lr_schedule: str = "constant",
    ) -> None:
        super().__init__()
        self.net = build_net(net, **(net_config or {}))
        build_optimizer(optimizer, [nn.Parameter(torch.zeros(1))], lr, momentum, weight_decay)  # bad settings fail now
        if lr_schedule not in LR_SCHEDULES:
            raise UsageError(f"unknown learning-rate schedule {lr_schedule!r}; choose one of: {', '.join(LR_SCHEDULES)}")

    @property
    def num_parameters(self) -> int:
        return count_parameters(self.net)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def on_fit_start(self) -> None:
        if self.logger is not None:
            self.logger.log_hyperparams({"params": self.num_parameters})

    def configure_optimizers(self) -> Any:
        """The optimizer; with the `cosine` schedule its learning rate decays to 0 over the Trainer's max_epochs."""
        hp = self.hparams
        optimizer = build_optimizer(hp.optimizer, self.parameters(), hp.lr, hp.momentum, hp.weight_decay)
        if hp.get("lr_schedule", "constant") == "constant":
            return optimizer
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=self.trainer.max_epochs)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "epoch"}}


class Classifier(NetModule):
    """Cross-entropy classifier around a registry net.

    Logged per epoch: `train/loss_mean` and `train/acc_mean` (means over the epoch's batches, in train mode) and
    `test/loss`, `test/acc` (a full pass over the test set in eval mode). The per-step loss `train/loss_step` is
    written by `callbacks.step_loss.StepLossLogger`, which the training path always adds.
    """

    def __init__(
        self,
        net: str = "lenet",
        net_config: dict[str, Any] | None = None,
        optimizer: str = "sgd",
        lr: float = 0.01,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        num_classes: int = 10,
        lr_schedule: str = "constant",
    ) -> None:
        super().__init__(net, net_config, optimizer, lr, momentum, weight_decay, lr_schedule)
        self.save_hyperparameters()
        self.train_loss, self.test_loss = MeanMetric(), MeanMetric()
        self.train_acc = MulticlassAccuracy(num_classes, average="micro", validate_args=False)
        self.test_acc = MulticlassAccuracy(num_classes, average="micro", validate_args=False)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        self.train_loss.update(loss.detach(), weight=len(y))
        self.train_acc.update(logits.detach(), y)
        return loss

    def on_train_epoch_end(self) -> None:
        # compute() already reduces over DDP ranks; sync_dist=True (a mean of equal values) states that to Lightning
        self.log("train/loss_mean", self.train_loss.compute(), prog_bar=True, sync_dist=True)
        self.log("train/acc_mean", self.train_acc.compute(), prog_bar=True, sync_dist=True)
        self.train_loss.reset()
        self.train_acc.reset()

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        x, y = batch
        logits = self(x)
        self.test_loss.update(F.cross_entropy(logits, y), weight=len(y))
        self.test_acc.update(logits, y)
        self.log("test/loss", self.test_loss, on_step=False, on_epoch=True, prog_bar=True)
        self.log("test/acc", self.test_acc, on_step=False, on_epoch=True, prog_bar=True)

    @torch.inference_mode()
    def evaluate(self, batches: Iterable[tuple[Tensor, Tensor]]) -> dict[str, float]:
        """Mean loss and accuracy over `batches` in eval mode, on this module's device."""
        was_training = self.training
        self.eval()
        loss = MeanMetric().to(self.device)
        acc = MulticlassAccuracy(self.hparams.num_classes, average="micro", validate_args=False).to(self.device)
        for x, y in _on_device(batches, self.device):
            logits = self(x)
            loss.update(F.cross_entropy(logits, y), weight=len(y))
            acc.update(logits, y)
        self.train(was_training)
        return {"loss": loss.compute().item(), "acc": acc.compute().item()}


class Regressor(NetModule):
    """Mean-squared-error regression around a registry net.

    Logged per epoch: `train/loss_mean` (mean over the epoch's steps) and `test/loss` (a full pass over the
    evaluation set); `train/loss_step` per step as for the classifier.
    """

    def __init__(
        self,
        net: str = "mlp",
        net_config: dict[str, Any] | None = None,
        optimizer: str = "adam",
        lr: float = 1e-3,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        lr_schedule: str = "constant",
    ) -> None:
        super().__init__(net, net_config, optimizer, lr, momentum, weight_decay, lr_schedule)
        self.save_hyperparameters()
        self.train_loss, self.test_loss = MeanMetric(), MeanMetric()

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch
        loss = F.mse_loss(self(x), y)
        self.train_loss.update(loss.detach(), weight=len(y))
        return loss

    def on_train_epoch_end(self) -> None:
        self.log("train/loss_mean", self.train_loss.compute(), prog_bar=True, sync_dist=True)  # see Classifier
        self.train_loss.reset()

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        x, y = batch
        self.test_loss.update(F.mse_loss(self(x), y), weight=len(y))
        self.log("test/loss", self.test_loss, on_step=False, on_epoch=True, prog_bar=True)

    @torch.inference_mode()
    def evaluate(self, batches: Iterable[tuple[Tensor, Tensor]]) -> dict[str, float]:
        """Mean squared error over `batches` in eval mode, on this module's device."""
        was_training = self.training
        self.eval()
        loss = MeanMetric().to(self.device)
        for x, y in _on_device(batches, self.device):
            loss.update(F.mse_loss(self(x), y), weight=len(y))
        self.train(was_training)
        return {"loss": loss.compute().item()}

    @torch.inference_mode()
    def predict(self, x: Tensor) -> Tensor:
        was_training = self.training
        self.eval()
        prediction = self(x.to(self.device)).cpu()
        self.train(was_training)
        return prediction


def _on_device(batches: Iterable[tuple[Tensor, ...]], device: torch.device) -> Iterator[tuple[Tensor, ...]]:
    for batch in batches:
        yield tuple(t.to(device, non_blocking=True) for t in batch)
