"""Homework 1 of deep-learning theory as a PyTorch Lightning project, in layers; each imports only those below it.

    hw1.cli        what an invocation does: flags and profiles, sweeps of runs, post-hoc analyses' sources
    hw1.reporting  figures, the report and its verdicts, reading TensorBoard logs
    hw1.analysis   functions of trained weights and data: Hessians, sharpness, minimal ratio, surfaces, PCA, ...
    hw1.training   data, nets, the LightningModule, the training path, checkpoints and loading minima
    hw1.runs       settings, result folders, atomic files, errors

`tests/test_structure.py` checks the order. What a user loads — the LightningModules, the data modules, the net
registry and the recording callbacks — is exported here: `from hw1 import Classifier, MNISTDataModule, WeightRecorder`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from callbacks.grad_norm import GradNormLogger
    from callbacks.sensitivity import SensitivityLogger
    from callbacks.weights import WeightRecorder
    from hw1.training.data import MNISTDataModule
    from hw1.training.function_data import FunctionDataModule
    from hw1.training.modules import Classifier, Regressor
    from hw1.training.nets import NETS, build_net

EXPORTS = {  # what a user loads, by name, from where it lives (imported when first asked for)
    "Classifier": "hw1.training.modules",
    "Regressor": "hw1.training.modules",
    "MNISTDataModule": "hw1.training.data",
    "FunctionDataModule": "hw1.training.function_data",
    "NETS": "hw1.training.nets",
    "build_net": "hw1.training.nets",
    "WeightRecorder": "callbacks.weights",
    "GradNormLogger": "callbacks.grad_norm",
    "SensitivityLogger": "callbacks.sensitivity",
}
__all__ = ["Classifier", "Regressor", "MNISTDataModule", "FunctionDataModule", "NETS", "build_net", "WeightRecorder",
           "GradNormLogger", "SensitivityLogger"]  # fmt: skip


def __getattr__(name: str) -> Any:
    """`from hw1 import Classifier` and the other names of `EXPORTS`, imported on first use (so that `import hw1.runs`
    stays light and the callbacks, which import hw1's layers, import no cycle)."""
    if name not in EXPORTS:
        raise AttributeError(f"module 'hw1' has no attribute {name!r}")
    return getattr(importlib.import_module(EXPORTS[name]), name)
