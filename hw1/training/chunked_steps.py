"""Many optimizer steps per Lightning training step, taken without Lightning's per-step wrappers.

Why: the nets of this project are small, and Lightning's loop costs 0.5-2 ms of Python a step (its optimizer wrapper,
closure, hooks of every callback, the profiler, metric logging, the progress bar) against a kernel time of well under
a millisecond; a 784-64-10 MLP trains several times slower through it than in a plain PyTorch loop on the same tensors.
So a training item is a chunk of consecutive minibatches (`hw1.training.data.Chunk`), each one optimizer step taken
directly (backward, the torch optimizer's step), with only the step hooks that some callback overrides, and the train
metrics updated once per epoch. The numbers do not depend on the chunk size.

The Lightning and torch internals this relies on are checked by `hw1.training.lightning_internals`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.strategies import SingleDeviceStrategy
from lightning.pytorch.utilities.model_helpers import is_overridden
from torch import Tensor

from hw1.runs.errors import TrainingDiverged
from hw1.training.lightning_internals import check_private_apis
from hw1.training.trainer_state import callbacks_of

STEP_HOOKS = ("on_before_backward", "on_after_backward", "on_before_optimizer_step")


class ChunkedSteps(L.LightningModule):
    """The training step of `hw1.training.modules.NetModule`: one optimizer step per minibatch of a chunk.

    The module defines `loss` (and may define `compact_outputs`); each step's compact outputs, targets and loss are kept
    on the device in `epoch_batches`, for the module to feed its train metrics once per epoch.
    """

    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False  # several optimizer steps per training item: see `training_step`
        self.epoch_batches: list[tuple[Tensor, Tensor, Tensor]] = []  # (compact outputs, targets, loss) per step
        self.direct_steps = False  # set by on_train_start: see `optimizer_step_on`
        self.lightning_optimizer: Any = None
        self.step_hooks: dict[str, list[Any]] = {}

    def loss(self, outputs: Tensor, targets: Tensor) -> Tensor:
        raise NotImplementedError

    def compact_outputs(self, outputs: Tensor) -> Tensor:
        """What the train metrics need of a batch's outputs, kept on the device until the epoch ends."""
        return outputs

    def on_train_epoch_start(self) -> None:
        self.epoch_batches = []

    def on_train_start(self) -> None:
        """Chooses how optimizer steps are taken: see `optimizer_step_on`."""
        check_private_apis()
        trainer = self.trainer
        self.lightning_optimizer = self.optimizers()
        self.direct_steps = isinstance(trainer.strategy, SingleDeviceStrategy) and (
            getattr(trainer.precision_plugin, "scaler", None) is None
        )
        owners = (self, *callbacks_of(trainer))
        self.step_hooks = {
            hook: [c for c in owners if is_overridden(hook, c, L.LightningModule if c is self else Callback)]
            for hook in STEP_HOOKS
        }

    def optimizer_step_on(self, loss: Tensor) -> None:
        """Backward and one optimizer step, counted in `global_step`, with the hooks Lightning calls around them.

        On one device without a gradient scaler, directly: `loss.backward()` and the torch optimizer's step, calling
        only the hooks some callback (or this module) overrides, and advancing Lightning's step count as its optimizer
        wrapper does; this saves about 0.6 ms a step of Lightning's wrappers. Otherwise (DDP and other strategies,
        16-bit mixed precision) through `manual_backward` and Lightning's optimizer wrapper.
        """
        optimizer = self.lightning_optimizer
        if not self.direct_steps:
            optimizer.zero_grad()
            self.manual_backward(loss)
            optimizer.step()
            return
        raw = optimizer.optimizer
        raw.zero_grad()
        self._run_hooks("on_before_backward", loss)
        loss.backward()
        self._run_hooks("on_after_backward")
        optimizer._on_before_step()  # the manual-optimization loop's step counting (`global_step`)
        self._run_hooks("on_before_optimizer_step", raw)
        raw.step()
        optimizer._on_after_step()

    def _run_hooks(self, hook: str, *args: Any) -> None:
        for owner in self.step_hooks[hook]:
            if owner is self:
                getattr(self, hook)(*args)
            else:
                getattr(owner, hook)(self.trainer, self, *args)

    def training_step(self, chunk: Iterable[tuple[Tensor, Tensor]] | tuple[Tensor, Tensor], chunk_idx: int) -> dict[str, Tensor]:
        """One optimizer step per minibatch of the chunk (`hw1.training.data.Chunk`; a plain batch is a chunk of one), each
        counted in `global_step` with the `on_before_optimizer_step` hooks called (`optimizer_step_on`). Returns every
        step's loss as `loss`; a non-finite one stops training at the end of the chunk."""
        if isinstance(chunk, tuple):
            chunk = [chunk]
        first_step = self.global_step
        losses = []
        for x, y in chunk:
            outputs = self(x)
            loss = self.loss(outputs, y)
            self.optimizer_step_on(loss)
            losses.append(loss.detach())
            # a torchmetrics update costs 0.03-0.05 ms of Python: one batched update per epoch instead of one per step
            self.epoch_batches.append((self.compact_outputs(outputs.detach()), y, losses[-1]))
        stacked = torch.stack(losses)
        finite = torch.isfinite(stacked)
        if not finite.all():  # one host sync per chunk: stop before a non-finite loss reaches a checkpoint
            bad = int((~finite).nonzero()[0])
            kept = f"last.ckpt keeps epoch {self.current_epoch - 1}" if self.current_epoch else "no epoch finished"
            raise TrainingDiverged(
                f"training diverged: the loss became {stacked[bad].item()} at epoch {self.current_epoch},"
                f" step {first_step + bad} ({kept}); try a lower --lr (this run: {self.hparams['lr']:g})"
            )
        return {"loss": stacked}

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        """Lightning counts logged steps in training items; made to count optimizer steps, as it does when each
        item is one step, so epoch metrics land at the same TensorBoard step (the loop adds 1 after this hook)."""
        self.trainer.fit_loop.epoch_loop._batches_that_stepped = self.trainer.global_step - 1
