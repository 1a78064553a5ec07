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


class Classifier(L.LightningModule):
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
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = build_net(net, **(net_config or {}))
        self.train_loss, self.test_loss = MeanMetric(), MeanMetric()
        self.train_acc = MulticlassAccuracy(num_classes, average="micro", validate_args=False)
        self.test_acc = MulticlassAccuracy(num_classes, average="micro", validate_args=False)

    @property
    def num_parameters(self) -> int:
        return count_parameters(self.net)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        self.train_loss.update(loss.detach(), weight=len(y))
        self.train_acc.update(logits.detach(), y)
        return loss

    def on_train_epoch_end(self) -> None:
        self.log("train/loss_mean", self.train_loss.compute(), prog_bar=True)
        self.log("train/acc_mean", self.train_acc.compute(), prog_bar=True)
        self.train_loss.reset()
        self.train_acc.reset()

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        x, y = batch
        logits = self(x)
        self.test_loss.update(F.cross_entropy(logits, y), weight=len(y))
        self.test_acc.update(logits, y)
        self.log("test/loss", self.test_loss, on_step=False, on_epoch=True, prog_bar=True)
        self.log("test/acc", self.test_acc, on_step=False, on_epoch=True, prog_bar=True)

    def on_fit_start(self) -> None:
        if self.logger is not None:
            self.logger.log_hyperparams({"params": self.num_parameters})

    def configure_optimizers(self) -> torch.optim.Optimizer:
        hp = self.hparams
        return build_optimizer(hp.optimizer, self.parameters(), hp.lr, hp.momentum, hp.weight_decay)

    @torch.inference_mode()
    def evaluate(self, batches: Iterable[tuple[Tensor, Tensor]]) -> dict[str, float]:
        """Mean loss and accuracy over `batches` in eval mode, on this module's device."""
        was_training = self.training
        self.eval()
        loss, acc = MeanMetric().to(self.device), MulticlassAccuracy(
            self.hparams.num_classes, average="micro", validate_args=False
        ).to(self.device)
        for x, y in _on_device(batches, self.device):
            logits = self(x)
            loss.update(F.cross_entropy(logits, y), weight=len(y))
            acc.update(logits, y)
        self.train(was_training)
        return {"loss": loss.compute().item(), "acc": acc.compute().item()}


def _on_device(batches: Iterable[tuple[Tensor, ...]], device: torch.device) -> Iterator[tuple[Tensor, ...]]:
    for batch in batches:
        yield tuple(t.to(device, non_blocking=True) for t in batch)
