"""The training path's own callbacks and Trainer parts, which `hw1.training.fit.train_run` gives every run (the
recording callbacks a user attaches are in `callbacks/`; the checkpoint callbacks in `hw1.training.checkpoints`):
training to a target (`TrainToTarget`), the chunk size (`ChunkSize`), per-step scalars buffered on the device
(`BufferedStepScalars`, `StepLossLogger`), the progress bar (`ProgressBar`) and the profiler (`NoProfiler`).
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from typing import Any, cast

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, TQDMProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm
from lightning.pytorch.profilers import PassThroughProfiler

from hw1.training.data import TensorBatches
from hw1.training.modules import NetModule
from hw1.training.trainer_state import datamodule_of

PROGRESS_REFRESH_STEPS = 20  # a bar redrawn every step costs about as much as a small net's step


# Training to a target: a run stops once its training loss is below a stated value (or, where asked for, once it
# stops falling), with --max-epochs as the cap, and records where it stopped.
#
# The target is judged on the training loss measured as summary.json measures it: one pass over the whole training set
# (the labels trained on) in eval mode at the end of an epoch, `train/eval_loss`. The running mean of the epoch's
# minibatch losses (`train/loss_mean`) is not enough: with Adam and small batches a late spike in the epoch's last
# steps leaves a model well above the mean at the epoch's end. The pass is made only in epochs whose running mean is
# below `PRECHECK_FACTOR` × the target, so a run far from its target pays nothing for it.

MONITORED = "train/eval_loss"
RUNNING_MEAN = "train/loss_mean"
PRECHECK_FACTOR = 3.0
PLATEAU_DELTA = 0.01  # a new best epoch loss must be this fraction below the previous best to count as progress
TARGET, PLATEAU, CAP = "target", "plateau", "epoch cap"
TARGET_OPTIONS = ("target_loss", "plateau_epochs")


class TrainToTarget(EarlyStopping):
    """Lightning's `EarlyStopping` with `stopping_threshold` = the target, on the eval-pass training loss.

    With `plateau_epochs` P > 0 it also stops when the epoch's running-mean loss has not fallen `PLATEAU_DELTA`
    (relative) below its best for P epochs: a net too small to reach the target is trained until it stops improving.
    Checked at the end of every training epoch (not after the test pass, which may run only every few epochs). Its
    state (where it stopped and why) is saved in the checkpoint, so a resumed run that had stopped stays stopped.
    """

    def __init__(self, target_loss: float, plateau_epochs: int = 0) -> None:
        super().__init__(monitor=MONITORED, mode="min", stopping_threshold=target_loss, check_on_train_epoch_end=True,
                         patience=2**31, check_finite=True, strict=True)  # fmt: skip
        self.target_loss = target_loss
        self.plateau_epochs = plateau_epochs
        self.stopped_by: str | None = None
        self.stop_epoch: int | None = None  # epochs trained when it stopped
        self.stop_step: int | None = None  # optimizer steps taken when it stopped
        self.best_mean = float("inf")
        self.epochs_without_progress = 0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """A run resumed from a checkpoint written after it had stopped trains no further."""
        if self.stopped_by is not None:
            trainer.should_stop = True

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._should_skip_check(trainer) or self.stopped_by is not None:
            return
        running_mean = float(trainer.callback_metrics[RUNNING_MEAN])
        if running_mean < PRECHECK_FACTOR * self.target_loss:
            loss = cast(NetModule, pl_module).evaluate(datamodule_of(trainer).train_eval_dataloader())["loss"]
            trainer.callback_metrics[MONITORED] = torch.tensor(loss)
            if pl_module.logger is not None:
                pl_module.logger.log_metrics({MONITORED: loss}, step=trainer.global_step - 1)
            self._run_early_stopping_check(trainer)  # EarlyStopping: below the threshold stops the run
            if trainer.should_stop:
                self._stopped(trainer, TARGET)
                return
        if self.plateau_epochs:
            if running_mean < self.best_mean * (1 - PLATEAU_DELTA):
                self.best_mean, self.epochs_without_progress = running_mean, 0
            else:
                self.epochs_without_progress += 1
            if self.epochs_without_progress >= self.plateau_epochs:
                trainer.should_stop = True
                self._stopped(trainer, PLATEAU)

    def _stopped(self, trainer: L.Trainer, reason: str) -> None:
        self.stopped_by, self.stop_epoch, self.stop_step = reason, trainer.current_epoch + 1, trainer.global_step

    def record(self) -> dict[str, Any]:
        """What summary.json records of the run's target: the target, whether and where it was reached (epochs and
        optimizer steps trained by then), and what stopped the run."""
        reached = self.stopped_by == TARGET
        return {
            "target_loss": self.target_loss,
            "plateau_epochs": self.plateau_epochs,
            "target_reached": reached,
            "target_epoch": self.stop_epoch if reached else None,
            "target_step": self.stop_step if reached else None,
            "stopped_by": self.stopped_by or CAP,
        }

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "stopped_by": self.stopped_by, "stop_epoch": self.stop_epoch,
                "stop_step": self.stop_step, "best_mean": self.best_mean,
                "epochs_without_progress": self.epochs_without_progress}  # fmt: skip

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        for key in ("stopped_by", "stop_epoch", "stop_step", "best_mean", "epochs_without_progress"):
            setattr(self, key, state_dict.get(key, getattr(self, key)))


def untargeted() -> dict[str, Any]:
    """The record of a run trained for a fixed number of epochs, with no target."""
    return {"target_loss": None, "plateau_epochs": 0, "target_reached": None, "target_epoch": None, "target_step": None,
            "stopped_by": CAP}  # fmt: skip


# How many optimizer steps one Lightning training step takes: set, or timed so that a chunk lasts about 0.1 s.

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


# Per-step scalars gathered on the device and written once per epoch (no host sync per step).

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


# The Trainer's progress bar and profiler, made cheap for nets whose steps take well under a millisecond.

class NoProfiler(PassThroughProfiler):
    """Lightning's default profiler (which measures nothing) with a shared no-op context instead of a new generator.

    Lightning enters `profiler.profile(...)` for every hook of every callback: some 60 times a step.
    """

    _context = contextlib.nullcontext()

    def profile(self, action_name: str) -> Any:  # a context manager, as the base class's
        return self._context


class ProgressBar(TQDMProgressBar):
    """Lightning's bar counting training items (chunks of optimizer steps), showing the optimizer step as `step`,
    without `v_num` (runs are named folders here, and the bar showed the name's last 4 letters); redrawn about every
    `PROGRESS_REFRESH_STEPS` optimizer steps. It is cleared when the run ends (the run's line replaces it), and the
    evaluation passes draw no bar of their own unless `evaluation_bars`."""

    def __init__(self, refresh_rate: int, evaluation_bars: bool = False) -> None:
        super().__init__(refresh_rate=refresh_rate)
        self.evaluation_bars = evaluation_bars

    def init_train_tqdm(self) -> Tqdm:
        bar = super().init_train_tqdm()
        bar.leave = False
        return bar

    def init_validation_tqdm(self) -> Tqdm:
        return super().init_validation_tqdm() if self.evaluation_bars else Tqdm(disable=True)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        steps_per_chunk = getattr(datamodule_of(trainer), "steps_per_chunk", None) or 1
        self._refresh_rate = max(1, PROGRESS_REFRESH_STEPS // steps_per_chunk)
        super().on_train_start(trainer, pl_module)

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        return {"step": trainer.global_step, **metrics}
