"""Linear interpolation between two trained classifiers (Goodfellow et al. 2015; Keskar et al. 2017, Fig. 3)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from hw1.runs.console import CONSOLE
from hw1.training.minima import (
    load_classifier_pair,
    training_data,
    training_set,
)


def interpolate_states(first: dict[str, Tensor], second: dict[str, Tensor], alpha: float) -> dict[str, Tensor]:
    """θα = (1 − α)·θ1 + α·θ2 for every floating-point tensor; integer buffers are taken from the first model."""
    return {
        key: torch.lerp(value, second[key], alpha) if value.is_floating_point() else value for key, value in first.items()
    }


@torch.inference_mode()
def evaluate_interpolation(
    model: nn.Module,
    first: dict[str, Tensor],
    second: dict[str, Tensor],
    alphas: Sequence[float],
    batches: Callable[[], Iterable[Any]],
) -> dict[str, list[float]]:
    """Cross-entropy and accuracy of θα over `batches()` for each α, with one model and torch.func.functional_call."""
    model.eval()
    losses, accuracies = [], []
    for alpha in alphas:
        state = interpolate_states(first, second, alpha)
        total_loss, correct, count = 0.0, 0, 0
        for x, y in batches():
            logits = functional_call(model, state, (x,))
            total_loss += F.cross_entropy(logits, y, reduction="sum").item()
            correct += (logits.argmax(dim=1) == y).sum().item()
            count += len(y)
        losses.append(total_loss / count)
        accuracies.append(correct / count)
    return {"loss": losses, "acc": accuracies}


def interpolate(first: str, second: str, alphas: list[float], data_dir: str | None, device: torch.device,
                download: bool = True) -> dict[str, Any]:  # fmt: skip
    """Train and test loss and accuracy at each α between the two checkpoints.

    The training set is the first checkpoint's; `training_set` records it and `same_training_set` whether the second
    checkpoint was trained on the same one (if not, its α = 1 train numbers are on data it did not see, and a note
    says so).
    """
    model, state1, state2, (data1, data2) = load_classifier_pair(first, second, device)
    train_set, other_set = training_set(data1), training_set(data2)
    same = train_set == other_set
    if not same:
        CONSOLE.say(f"note: {second} was trained on another training set ({other_set}) than {first} ({train_set});"
              " the train curve uses the first one's")  # fmt: skip
    datamodule = training_data(data1, data_dir, device, download)
    return {
        "train": evaluate_interpolation(model, state1, state2, alphas, datamodule.train_eval_dataloader),
        "test": evaluate_interpolation(model, state1, state2, alphas, datamodule.test_dataloader),
        "training_set": train_set,
        "same_training_set": same,
    }


def alpha_grid(points: int, low: float = -1.0, high: float = 2.0) -> list[float]:
    """`points` evenly spaced α in [low, high], with 0 and 1 among them whenever the spacing allows."""
    return [round(float(a), 6) for a in np.linspace(low, high, points)]


