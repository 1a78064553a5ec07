"""Linear interpolation between two trained classifiers (Goodfellow et al. 2015; Keskar et al. 2017, Fig. 3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from hw1.data import MNISTDataModule
from hw1.flatness import evaluate_interpolation, load_classifier_pair
from hw1.plots import interpolation_curves, save_figure_at

TRAINING_SET_KEYS = ("train_subset", "label_mode", "label_fraction", "data_seed")


def training_set(data_hparams: dict[str, Any]) -> dict[str, Any]:
    """What decides a checkpoint's training set: subset size, label corruption and the data seed that drew them."""
    defaults = {"train_subset": None, "label_mode": "true", "label_fraction": 1.0, "data_seed": data_hparams.get("seed", 0)}
    return {key: data_hparams.get(key, defaults[key]) for key in TRAINING_SET_KEYS}


def interpolate(first: str, second: str, alphas: list[float], data_dir: str | None, device: torch.device,
                download: bool = True) -> dict[str, Any]:  # fmt: skip
    """Train and test loss and accuracy at each α between the two checkpoints.

    The training set is the first checkpoint's; `training_set` records it and `same_training_set` whether the second
    checkpoint was trained on the same one (if not, its α = 1 train numbers are on data it did not see, and a note
    says so).
    """
    model, state1, state2, (data1, data2) = load_classifier_pair(first, second, device)
    train_set = training_set(data1)
    same = train_set == training_set(data2)
    if not same:
        print(f"note: {second} was trained on another training set ({training_set(data2)}) than {first} ({train_set});"
              " the train curve uses the first one's")  # fmt: skip
    datamodule = MNISTDataModule(data_dir, train_subset=train_set["train_subset"], label_mode=train_set["label_mode"],
                                 label_fraction=train_set["label_fraction"], data_seed=train_set["data_seed"],
                                 download=download)  # fmt: skip
    datamodule.setup()
    datamodule.train = tuple(t.to(device) for t in datamodule.train)
    datamodule.test = tuple(t.to(device) for t in datamodule.test)
    return {
        "train": evaluate_interpolation(model, state1, state2, alphas, datamodule.train_eval_dataloader),
        "test": evaluate_interpolation(model, state1, state2, alphas, datamodule.test_dataloader),
        "training_set": train_set,
        "same_training_set": same,
    }


def alpha_grid(points: int, low: float = -1.0, high: float = 2.0) -> list[float]:
    """`points` evenly spaced α in [low, high], with 0 and 1 among them whenever the spacing allows."""
    return [round(float(a), 6) for a in np.linspace(low, high, points)]


def draw(first: str, second: str, alphas: list[float], data_dir: str | None, device: torch.device, out: Path,
         download: bool = True) -> Path:  # fmt: skip
    """Evaluate the interpolation, save the figure at `out` and its numbers beside it (`.json`)."""
    results = interpolate(first, second, alphas, data_dir, device, download)
    title = f"{Path(first).parts[-4] if len(Path(first).parts) > 3 else first} → " \
            f"{Path(second).parts[-4] if len(Path(second).parts) > 3 else second}"  # fmt: skip
    drawing = interpolation_curves(alphas, {split: results[split] for split in ("train", "test")}, title)
    drawing.data.update(first=first, second=second, alphas=alphas, **results)
    figure = save_figure_at(drawing, out)
    print(f"figure: {figure}")
    return figure
