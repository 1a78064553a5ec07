"""Training to a target: a run stops once its training loss is below a stated value (or, where asked for, once it
stops falling), with --max-epochs as the cap, and records where it stopped.

The target is judged on the training loss measured as summary.json measures it: one pass over the whole training set
(the labels trained on) in eval mode at the end of an epoch, `train/eval_loss`. The running mean of the epoch's
minibatch losses (`train/loss_mean`) is not enough: with Adam and small batches a late spike in the epoch's last
steps leaves a model well above the mean at the epoch's end. The pass is made only in epochs whose running mean is
below `PRECHECK_FACTOR` × the target, so a run far from its target pays nothing for it.
"""

from __future__ import annotations

from typing import Any, cast

import lightning as L
import torch
from lightning.pytorch.callbacks import EarlyStopping

from hw1.training.modules import NetModule
from hw1.training.trainer_state import datamodule_of

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
