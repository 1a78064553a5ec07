"""Samples of 1-D functions for the deep-vs-shallow experiment."""

from __future__ import annotations

import math
from collections.abc import Callable

import lightning as L
import torch
from torch import Tensor

from hw1.runs.errors import UsageError
from hw1.training.data import TensorBatches


def sinc(x: Tensor) -> Tensor:
    """sin(5πx)/(5πx), the assignment's function; 1 at x = 0."""
    return torch.sinc(5 * x)  # torch.sinc(t) = sin(πt)/(πt)


def sgn_sin(x: Tensor) -> Tensor:
    """sign(sin(5πx)): a square wave."""
    return torch.sign(torch.sin(5 * math.pi * x))


def poly(x: Tensor) -> Tensor:
    """x³ + 2x² + 3x + 1, the seed's polynomial."""
    return x**3 + 2 * x**2 + 3 * x + 1


def cos(x: Tensor) -> Tensor:
    """cos(x), the seed's other function."""
    return torch.cos(x)


TARGETS: dict[str, Callable[[Tensor], Tensor]] = {"sinc": sinc, "sgn_sin": sgn_sin, "poly": poly, "cos": cos}

# The assignment's three nets of (nearly) equal size: hidden widths of 1-input, 1-output MLPs.
REFERENCE_NETS: dict[str, list[int]] = {
    "deep": [5, 10, 10, 10, 10, 10, 5],  # 571 parameters
    "medium": [10, 18, 15, 4],  # 572 parameters
    "shallow": [190],  # 571 parameters
}


def target(name: str) -> Callable[[Tensor], Tensor]:
    if name not in TARGETS:
        raise UsageError(f"unknown function {name!r}; choose one of: {', '.join(TARGETS)}")
    return TARGETS[name]


class FunctionDataModule(L.LightningDataModule):
    """Noise-free samples y = f(x) on an even grid of [x_min, x_max], and a denser grid for evaluation.

    Training is full batch by default; one Lightning epoch makes `steps_per_epoch` optimizer steps, so that
    thousands of cheap full-batch steps do not each pay for an epoch's bookkeeping (validation, checkpoints).
    """

    def __init__(
        self,
        function: str = "sinc",
        x_min: float = -1.0,
        x_max: float = 1.0,
        train_points: int = 1000,
        eval_points: int = 4000,
        batch_size: int | None = None,
        steps_per_epoch: int = 100,
        order_seed: int = 0,
    ) -> None:
        super().__init__()
        target(function)
        if not x_min < x_max:
            raise UsageError(f"--x-min must be below --x-max, got {x_min} and {x_max}")
        if train_points < 2 or eval_points < 2 or steps_per_epoch < 1 or (batch_size is not None and batch_size < 1):
            raise UsageError("point counts must be at least 2, and steps per epoch and batch size positive")
        self.save_hyperparameters()
        self.steps_per_chunk: int | None = None  # None: plain batches; trainer_callbacks.ChunkSize sets it for training
        self.train: tuple[Tensor, ...] = ()  # set up: (inputs, targets) on the training device
        self.test: tuple[Tensor, ...] = ()

    def samples(self, points: int) -> tuple[Tensor, Tensor]:
        x = torch.linspace(self.hparams["x_min"], self.hparams["x_max"], points).unsqueeze(1)
        return x, target(self.hparams["function"])(x)

    def setup(self, stage: str | None = None) -> None:
        if self.train:
            return
        device = self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")
        self.train = tuple(t.to(device) for t in self.samples(self.hparams["train_points"]))
        self.test = tuple(t.to(device) for t in self.samples(self.hparams["eval_points"]))

    @property
    def _batch_size(self) -> int:
        return self.hparams["batch_size"] or self.hparams["train_points"]

    def train_dataloader(self) -> TensorBatches:
        full_batch = self._batch_size >= self.hparams["train_points"]
        passes = self.hparams["steps_per_epoch"] if full_batch else 1
        return TensorBatches(self.train, self._batch_size, shuffle=not full_batch, seed=self.hparams["order_seed"],
                             passes_per_epoch=passes, steps_per_chunk=self.steps_per_chunk)  # fmt: skip

    def val_dataloader(self) -> TensorBatches:
        """The dense evaluation grid (logged under `test/`)."""
        return TensorBatches(self.test, self.hparams["eval_points"])

    def train_eval_dataloader(self) -> TensorBatches:
        return TensorBatches(self.train, self.hparams["train_points"])

    def test_dataloader(self) -> TensorBatches:
        return self.val_dataloader()
