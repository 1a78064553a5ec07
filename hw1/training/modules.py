"""LightningModules: a net from the registry, its loss, its metrics and its optimizer."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import MeanMetric, Metric
from torchmetrics.classification import MulticlassAccuracy

from hw1.runs.errors import UsageError
from hw1.runs.settings import OPTIMIZERS_WITH_MOMENTUM, momentum_problem
from hw1.training.chunked_steps import ChunkedSteps
from hw1.training.lightning_internals import epoch_end_logging_step, fused_optimizer_devices
from hw1.training.nets import build_net, count_parameters

LR_SCHEDULES = ("constant", "cosine")
OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "rmsprop": torch.optim.RMSprop,
}
_FUSED = ("sgd", "adam")


def check_optimizer_settings(name: str, lr: float | None, momentum: float = 0.0, weight_decay: float = 0.0) -> None:
    """Refuse settings no optimizer of this project takes: an unknown name, a non-positive or non-finite learning
    rate (None: not checked here), negative momentum or weight decay, momentum for an optimizer without it."""
    if name not in OPTIMIZERS:
        raise UsageError(f"unknown optimizer {name!r}; choose one of: {', '.join(OPTIMIZERS)}")
    if lr is not None and not 0 < lr < math.inf:
        raise UsageError(f"learning rate must be positive and finite, got {lr}; pass e.g. --lr 0.01")
    if not (0 <= momentum < math.inf and 0 <= weight_decay < math.inf):
        raise UsageError(f"momentum and weight decay must be non-negative and finite, got {momentum} and {weight_decay}")
    if (problem := momentum_problem(name, momentum)) is not None:
        raise UsageError(problem)


def build_optimizer(
    name: str, parameters: Iterable[nn.Parameter], lr: float, momentum: float = 0.0, weight_decay: float = 0.0
) -> torch.optim.Optimizer:
    """The optimizer `name` (sgd, adam, rmsprop); momentum applies to sgd and rmsprop only.

    Torch's fused implementation (one kernel for all parameters) where it has one for the parameters' device
    (sgd and adam), else its multi-tensor (foreach) one. The settings were checked where the module was built
    (`NetModule.__init__`).
    """
    parameters = list(parameters)
    options: dict[str, Any] = {"lr": lr, "weight_decay": weight_decay}
    if name in OPTIMIZERS_WITH_MOMENTUM:
        options["momentum"] = momentum
    device_type = parameters[0].device.type if parameters else "cpu"
    if name in _FUSED and device_type in fused_optimizer_devices():
        options["fused"] = True
    else:
        options["foreach"] = True
    return OPTIMIZERS[name](parameters, **options)


class NetModule(ChunkedSteps):
    """A registry net, its loss, one set of torchmetrics per stage, and its optimizer.

    Subclasses call `save_hyperparameters()` and `set_up_metrics()` in `__init__`, and define `loss` and
    `new_metrics`. Logged per epoch: `train/<metric>_mean` (means over the epoch's batches, in train mode) and
    `test/<metric>` (a full pass over the evaluation set in eval mode); the per-step loss `train/loss_step` is written
    by `hw1.training.trainer_callbacks.StepLossLogger`, which the training path always adds. `init_seed` draws the net's initial
    weights (without touching the global random state); None draws them from the global generator.
    """

    def __init__(
        self,
        net: str,
        net_config: dict[str, Any] | None,
        optimizer: str,
        lr: float,
        momentum: float,
        weight_decay: float,
        lr_schedule: str = "constant",
        init_seed: int | None = None,
    ) -> None:
        super().__init__()
        with contextlib.nullcontext() if init_seed is None else torch.random.fork_rng(devices=[]):
            if init_seed is not None:
                torch.manual_seed(init_seed)
            self.net = build_net(net, **(net_config or {}))
        check_optimizer_settings(optimizer, lr, momentum, weight_decay)
        if lr_schedule not in LR_SCHEDULES:
            raise UsageError(f"unknown learning-rate schedule {lr_schedule!r}; choose one of: {', '.join(LR_SCHEDULES)}")

    def new_metrics(self) -> dict[str, Metric]:
        """Fresh metrics, `loss` first; each is updated by `update_metrics`."""
        raise NotImplementedError

    def set_up_metrics(self) -> None:
        self.train_metrics = nn.ModuleDict(self.new_metrics())
        self.test_metrics = nn.ModuleDict(self.new_metrics())

    @staticmethod
    def update_metrics(
        metrics: nn.ModuleDict, outputs: Tensor, targets: Tensor, loss: Tensor, loss_weight: Tensor | int | None = None
    ) -> None:
        """Updates every metric; `loss` may be one value per batch, with each batch's size as `loss_weight`."""
        for name, metric in _named_metrics(metrics):
            if name == "loss":
                metric.update(loss, weight=len(targets) if loss_weight is None else loss_weight)
            else:
                metric.update(outputs, targets)

    @property
    def num_parameters(self) -> int:
        return count_parameters(self.net)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def update_train_metrics(self) -> None:
        """Feeds the batches kept since the epoch started to the train metrics, all at once."""
        if not self.epoch_batches:
            return
        outputs, targets, losses = zip(*self.epoch_batches, strict=True)
        sizes = losses[0].new_tensor([len(t) for t in targets])
        self.update_metrics(self.train_metrics, torch.cat(outputs), torch.cat(targets), torch.stack(losses), sizes)
        self.epoch_batches = []

    def on_train_epoch_end(self) -> None:
        """Steps the learning-rate schedule and writes the epoch's train metrics to the logger, flushed — both before
        the epoch's checkpoint, which Lightning writes after this hook: a resumed run continues with the stepped
        schedule, and a run killed right after its checkpoint still has the epoch's train/*_mean points (Lightning
        would hand them to the logger only after the checkpoint, and a resume from it never logs them again)."""
        schedule = cast(torch.optim.lr_scheduler.LRScheduler | None, self.lr_schedulers())  # one, or none
        if schedule is not None:
            schedule.step()
        self.update_train_metrics()
        means = {}
        for name, metric in _named_metrics(self.train_metrics):
            # compute() already reduces over DDP ranks; sync_dist=True (a mean of equal values) says so to Lightning
            means[f"train/{name}_mean"] = metric.compute()
            self.log(f"train/{name}_mean", means[f"train/{name}_mean"], prog_bar=True, sync_dist=True, logger=False)
            metric.reset()
        if self.logger is not None:
            step = epoch_end_logging_step(self.trainer)
            self.logger.log_metrics({**{k: float(v) for k, v in means.items()}, "epoch": self.current_epoch}, step=step)
            self.logger.save()

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        x, y = batch
        outputs = self(x)
        self.update_metrics(self.test_metrics, outputs, y, self.loss(outputs, y))

    def on_validation_epoch_end(self) -> None:
        for name, metric in _named_metrics(self.test_metrics):
            # compute() reduces over DDP ranks; logged once per pass rather than registered at every batch
            self.log(f"test/{name}", metric.compute(), prog_bar=True, sync_dist=True)
            metric.reset()

    @torch.inference_mode()
    def evaluate(self, batches: Iterable[Any]) -> dict[str, float]:
        """Every metric over `batches` in eval mode, on this module's device (fresh metrics, nothing logged)."""
        was_training = self.training
        self.eval()
        metrics = nn.ModuleDict(self.new_metrics()).to(self.device)
        for x, y in _on_device(batches, self.device):
            outputs = self(x)
            self.update_metrics(metrics, outputs, y, self.loss(outputs, y))
        self.train(was_training)
        return {name: metric.compute().item() for name, metric in _named_metrics(metrics)}

    def on_fit_start(self) -> None:
        if self.logger is not None:
            self.logger.log_hyperparams({"params": self.num_parameters})

    def new_optimizer(self, parameters: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
        """This module's optimizer (name, learning rate, momentum, weight decay from its hyperparameters) on
        `parameters`: its own, or a copy's."""
        hp = self.hparams
        return build_optimizer(hp["optimizer"], parameters, hp["lr"], hp["momentum"], hp["weight_decay"])

    def configure_optimizers(self) -> Any:
        """The optimizer; with the `cosine` schedule its learning rate decays to 0 over the Trainer's max_epochs."""
        optimizer = self.new_optimizer(self.parameters())
        if self.hparams.get("lr_schedule", "constant") == "constant":
            return optimizer
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=int(self.trainer.max_epochs or 1))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "epoch"}}


CLASSIFIER_LOSSES = ("cross_entropy", "mse")


class Classifier(NetModule):
    """Classifier around a registry net, trained on cross-entropy (or, with `loss_function="mse"`, the squared error
    of the outputs to one-hot labels, as in Belkin et al. 2019); metrics `loss` and `acc` (micro-averaged accuracy)."""

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
        init_seed: int | None = None,
        loss_function: str = "cross_entropy",
    ) -> None:
        if loss_function not in CLASSIFIER_LOSSES:
            raise UsageError(f"unknown loss {loss_function!r}; choose one of: {', '.join(CLASSIFIER_LOSSES)}")
        super().__init__(net, net_config, optimizer, lr, momentum, weight_decay, lr_schedule, init_seed)
        self.save_hyperparameters()
        self.set_up_metrics()

    def loss(self, outputs: Tensor, targets: Tensor) -> Tensor:
        if self.hparams.get("loss_function", "cross_entropy") == "mse":
            return F.mse_loss(outputs, F.one_hot(targets, self.hparams["num_classes"]).to(outputs.dtype))
        return F.cross_entropy(outputs, targets)

    def compact_outputs(self, outputs: Tensor) -> Tensor:
        """The predicted classes: all that accuracy needs, a tenth of the logits' memory."""
        return outputs.argmax(dim=-1)

    def new_metrics(self) -> dict[str, Metric]:
        accuracy = MulticlassAccuracy(self.hparams["num_classes"], average="micro", validate_args=False)
        return {"loss": MeanMetric(), "acc": accuracy}


class Regressor(NetModule):
    """Mean-squared-error regression around a registry net; metric `loss`."""

    def __init__(
        self,
        net: str = "mlp",
        net_config: dict[str, Any] | None = None,
        optimizer: str = "adam",
        lr: float = 1e-3,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        lr_schedule: str = "constant",
        init_seed: int | None = None,
    ) -> None:
        super().__init__(net, net_config, optimizer, lr, momentum, weight_decay, lr_schedule, init_seed)
        self.save_hyperparameters()
        self.set_up_metrics()

    def loss(self, outputs: Tensor, targets: Tensor) -> Tensor:
        return F.mse_loss(outputs, targets)

    def new_metrics(self) -> dict[str, Metric]:
        return {"loss": MeanMetric()}

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


def _named_metrics(metrics: nn.ModuleDict) -> Iterator[tuple[str, Metric]]:
    """A ModuleDict of torchmetrics, typed as such."""
    for name, metric in metrics.items():
        yield name, cast(Metric, metric)
