"""The private details of Lightning and torch that the training path relies on, checked by `check_private_apis` (called
as training starts) and by `tests/test_lightning_internals.py` against the versions in `TESTED_VERSIONS`:
- `LightningOptimizer._on_before_step` / `_on_after_step`: the manual-optimization loop's step counting
  (`global_step`), which a direct torch step must advance as Lightning's wrapper does
  (`hw1.training.chunked_steps.ChunkedSteps`);
- `fit_loop.epoch_loop._batches_that_stepped`: the step Lightning logs at, made to count optimizer steps;
- `TQDMProgressBar._refresh_rate`: the bar's redraw interval, set per chunk size
  (`hw1.training.trainer_callbacks.ProgressBar`);
- `torch.utils._foreach_utils._get_fused_kernels_supported_devices`: where torch has fused optimizer kernels.
"""

from __future__ import annotations

from typing import cast

import lightning as L
import torch
from lightning.pytorch.callbacks import TQDMProgressBar
from lightning.pytorch.core.optimizer import LightningOptimizer
from lightning.pytorch.loops.training_epoch_loop import _TrainingEpochLoop
from torch.utils import _foreach_utils

TESTED_VERSIONS = {"lightning": "2.6", "torch": "2.14"}  # major.minor of the releases these internals were tested with


def private_apis_missing() -> list[str]:
    """The private attributes this module uses that the installed Lightning and torch lack."""
    wrapper = vars(LightningOptimizer(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)))
    present = {
        "LightningOptimizer._on_before_step": "_on_before_step" in wrapper,
        "LightningOptimizer._on_after_step": "_on_after_step" in wrapper,
        "_TrainingEpochLoop._batches_that_stepped": "_batches_that_stepped" in vars(_TrainingEpochLoop(cast(L.Trainer, None))),
        "TQDMProgressBar._refresh_rate": "_refresh_rate" in vars(TQDMProgressBar()),
        "torch.utils._foreach_utils._get_fused_kernels_supported_devices":
            hasattr(_foreach_utils, "_get_fused_kernels_supported_devices"),
    }  # fmt: skip
    return [name for name, found in present.items() if not found]


def check_private_apis() -> None:
    """Fail loudly, naming the versions, when Lightning or torch lack an internal the direct steps use."""
    missing = private_apis_missing()
    if missing:
        raise RuntimeError(f"lightning {L.__version__} / torch {torch.__version__} lack {', '.join(missing)}, which "
                           f"hw1.training relies on (tested with lightning {TESTED_VERSIONS['lightning']}, "
                           f"torch {TESTED_VERSIONS['torch']}); install those versions")  # fmt: skip


def fused_optimizer_devices() -> list[str]:
    """The device types torch has fused (one-kernel) optimizer implementations for."""
    return _foreach_utils._get_fused_kernels_supported_devices()


def epoch_end_logging_step(trainer: L.Trainer) -> int:
    """The step Lightning logs epoch-end metrics at: its count of batches that stepped, less the epoch's last."""
    return trainer.fit_loop.epoch_loop._batches_that_stepped - 1
