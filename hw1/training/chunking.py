"""How many optimizer steps one Lightning training step takes: set, or timed so that a chunk lasts about 0.1 s."""

from __future__ import annotations

import copy
import math
import time
from typing import cast

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from hw1.training.data import TensorBatches
from hw1.training.modules import NetModule
from hw1.training.trainer_state import datamodule_of

CHUNK_SECONDS = 0.1  # Lightning's loop costs 0.5-2 ms per training item on a shared CPU core: 1-2% of a chunk this long
TIMING_SECONDS = 0.01  # at least this long (and 3 steps) of timed steps on a copy of the net


def timed_step_seconds(module: NetModule, batch: tuple[torch.Tensor, torch.Tensor]) -> float:
    """Seconds one optimizer step takes on `batch`, measured on a copy of the net and its optimizer (the module,
    its optimizer's state and every random generator are left as they were)."""
    net = copy.deepcopy(module.net)
    optimizer = module.new_optimizer(net.parameters())
    x, y = batch
    device = x.device
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def step() -> None:
        optimizer.zero_grad()
        module.loss(net(x), y).backward()
        optimizer.step()

    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        step()  # warm-up: allocations, kernel selection, optimizer state
        synchronize()
        steps, start = 0, time.perf_counter()
        while steps < 3 or time.perf_counter() - start < TIMING_SECONDS:
            step()
            steps += 1
            synchronize()
        return (time.perf_counter() - start) / steps


class ChunkSize(Callback):
    """Sets the data module's `steps_per_chunk` before training: `requested`, or (None) as many steps as take about
    `CHUNK_SECONDS`, timed on a copy of the net; never more than an epoch's steps. The same on every rank (rank 0's).

    The numbers do not depend on it (the minibatches and their order are the same), only how often Lightning's loop,
    the progress bar and the per-item hooks run. `chosen` holds the value used; the loggers record it
    (`hparams.yaml`).
    """

    def __init__(self, requested: int | None = None) -> None:
        if requested is not None and requested < 1:
            raise ValueError(f"steps per chunk must be at least 1, got {requested}")
        self.requested = requested
        self.chosen: int | None = None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        datamodule = datamodule_of(trainer)
        if datamodule is None or not hasattr(datamodule, "steps_per_chunk"):
            return
        datamodule.steps_per_chunk = None  # plain batches: one to time, and the epoch's length in steps
        batches: TensorBatches = datamodule.train_dataloader()
        chosen = self.requested
        if chosen is None:
            seconds = timed_step_seconds(cast(NetModule, pl_module), cast(tuple[torch.Tensor, torch.Tensor], next(iter(batches))))
            chosen = max(1, math.floor(CHUNK_SECONDS / seconds))
        chosen = trainer.strategy.broadcast(min(chosen, len(batches)))
        datamodule.steps_per_chunk = self.chosen = chosen
        for logger in trainer.loggers:
            logger.log_hyperparams({"steps_per_chunk": chosen})
