"""Linear interpolation between two trained classifiers (Goodfellow et al. 2015; Keskar et al. 2017, Fig. 3)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from hw1.data import MNISTDataModule
from hw1.flatness import evaluate_interpolation, load_classifier_pair
from hw1.plots import interpolation_curves, save_figure_at


def interpolate(first: str, second: str, alphas: list[float], data_dir: str | None, device: torch.device,
                download: bool = True) -> dict[str, dict[str, list[float]]]:  # fmt: skip
    """Train and test loss and accuracy at each α between the two checkpoints."""
    model, state1, state2, data_hparams = load_classifier_pair(first, second, device)
    datamodule = MNISTDataModule(data_dir, train_subset=data_hparams.get("train_subset"),
                                 label_mode=data_hparams.get("label_mode", "true"),
                                 label_fraction=data_hparams.get("label_fraction", 1.0), seed=data_hparams.get("seed", 0),
                                 download=download)  # fmt: skip
    datamodule.setup()
    datamodule.train = tuple(t.to(device) for t in datamodule.train)
    datamodule.test = tuple(t.to(device) for t in datamodule.test)
    return {
        "train": evaluate_interpolation(model, state1, state2, alphas, datamodule.train_eval_dataloader),
        "test": evaluate_interpolation(model, state1, state2, alphas, datamodule.test_dataloader),
    }


def alpha_grid(points: int, low: float = -1.0, high: float = 2.0) -> list[float]:
    """`points` evenly spaced α in [low, high], with 0 and 1 among them whenever the spacing allows."""
    return [round(float(a), 6) for a in np.linspace(low, high, points)]


def draw(first: str, second: str, alphas: list[float], data_dir: str | None, device: torch.device, out: Path,
         download: bool = True) -> Path:  # fmt: skip
    """Evaluate the interpolation, save the figure at `out` (and its numbers as JSON beside it)."""
    results = interpolate(first, second, alphas, data_dir, device, download)
    out.parent.mkdir(parents=True, exist_ok=True)
    title = f"{Path(first).parts[-4] if len(Path(first).parts) > 3 else first} → " \
            f"{Path(second).parts[-4] if len(Path(second).parts) > 3 else second}"  # fmt: skip
    figure = save_figure_at(interpolation_curves(alphas, results, title), out)
    out.with_suffix(".json").write_text(json.dumps({"first": first, "second": second, "alphas": alphas, **results},
                                                   indent=1) + "\n")  # fmt: skip
    print(f"figure: {figure}")
    return figure
