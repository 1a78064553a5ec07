"""Linear interpolation between two trained classifiers (Goodfellow et al. 2015; Keskar et al. 2017, Fig. 3)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from hw1.checkpoints import read_checkpoint
from hw1.data import MNISTDataModule
from hw1.errors import UsageError
from hw1.models import Classifier
from hw1.plots import interpolation_curves, save_figure_at

TRAINING_SET_KEYS = ("train_subset", "label_mode", "label_fraction", "data_seed")


def check_same_architecture(first: dict[str, Tensor], second: dict[str, Tensor], names: Sequence[str]) -> None:
    """Two state dicts must hold the same tensors by name and shape to be interpolated."""
    shapes = {key: tuple(value.shape) for key, value in first.items()}
    other = {key: tuple(value.shape) for key, value in second.items()}
    if shapes != other:
        difference = sorted(set(shapes.items()) ^ set(other.items()))[:2]
        raise UsageError(
            f"{names[0]} and {names[1]} have different architectures (e.g. {difference}); interpolate checkpoints of one net"
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
    batches: Callable[[], Iterable[tuple[Tensor, Tensor]]],
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


def read_classifiers(paths: Sequence[str]) -> list[dict[str, Any]]:
    """Each checkpoint read once (on the CPU); a missing, unreadable or foreign file (not this project's Classifier) is
    a UsageError naming it."""
    checkpoints = []
    for path in paths:
        if not Path(path).is_file():
            raise UsageError(f"checkpoint {path} does not exist; pass .ckpt files written by this project")
        checkpoint = read_checkpoint(Path(path))
        if "hyper_parameters" not in checkpoint or "state_dict" not in checkpoint:
            raise UsageError(f"{path} is not a checkpoint of this project's Classifier; pass .ckpt files it wrote")
        checkpoints.append(checkpoint)
    return checkpoints


def check_one_architecture(paths: Sequence[str], checkpoints: Sequence[dict[str, Any]]) -> None:
    """Checkpoints to be combined (interpolated, spanning a plane) must hold one net: name, config and tensors."""
    nets = [(c["hyper_parameters"].get("net"), c["hyper_parameters"].get("net_config")) for c in checkpoints]
    for path, net, checkpoint in zip(paths[1:], nets[1:], checkpoints[1:], strict=True):
        if net != nets[0]:
            raise UsageError(f"{paths[0]} holds net {nets[0]} but {path} holds {net}; combine checkpoints of one architecture")
        check_same_architecture(checkpoints[0]["state_dict"], checkpoint["state_dict"], (paths[0], path))


def classifier_of(checkpoint: dict[str, Any], device: torch.device) -> Classifier:
    """The trained Classifier a checkpoint read by `read_classifiers` holds, in eval mode on `device`."""
    module = Classifier(**checkpoint["hyper_parameters"])
    module.load_state_dict(checkpoint["state_dict"])
    return module.to(device).eval()


def load_classifier_pair(
    first: str, second: str, device: torch.device
) -> tuple[nn.Module, dict, dict, tuple[dict, dict]]:
    """Load two Classifier checkpoints; refuse two different architectures.

    Returns the first model (to run `functional_call` on), both state dicts, and both checkpoints' data-module
    hyperparameters (their training subsets and labels, to evaluate on the data they were trained on).
    """
    checkpoints = read_classifiers((first, second))
    check_one_architecture((first, second), checkpoints)
    states = [{key: value.to(device) for key, value in c["state_dict"].items()} for c in checkpoints]
    model = Classifier(**checkpoints[0]["hyper_parameters"]).to(device)
    data = tuple(dict(c.get("datamodule_hyper_parameters", {})) for c in checkpoints)
    return model, states[0], states[1], data


def training_set(data_hparams: dict[str, Any]) -> dict[str, Any]:
    """What decides a checkpoint's training set: subset size, label corruption and the data seed that drew them."""
    defaults = {"train_subset": None, "label_mode": "true", "label_fraction": 1.0, "data_seed": data_hparams.get("seed", 0)}
    return {key: data_hparams.get(key, defaults[key]) for key in TRAINING_SET_KEYS}


def training_data(data_hparams: dict[str, Any], data_dir: str | None, device: torch.device, download: bool = True
                  ) -> MNISTDataModule:  # fmt: skip
    """The data module (set up, tensors on `device`) of the training set a checkpoint's data hyperparameters name,
    with the test set."""
    train_set = training_set(data_hparams)
    datamodule = MNISTDataModule(data_dir, train_subset=train_set["train_subset"], label_mode=train_set["label_mode"],
                                 label_fraction=train_set["label_fraction"], data_seed=train_set["data_seed"],
                                 download=download)  # fmt: skip
    datamodule.setup()
    datamodule.train = tuple(t.to(device) for t in datamodule.train)
    datamodule.test = tuple(t.to(device) for t in datamodule.test)
    return datamodule


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
        print(f"note: {second} was trained on another training set ({other_set}) than {first} ({train_set});"
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
