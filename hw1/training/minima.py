"""Loading a trained minimum: checkpoints read and checked, the Classifier they hold, the data it trained on."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from hw1.runs.errors import UsageError
from hw1.training.checkpoints import read_checkpoint
from hw1.training.data import MNISTDataModule
from hw1.training.modules import Classifier

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
    first_data, second_data = (dict(c.get("datamodule_hyper_parameters", {})) for c in checkpoints)
    return model, states[0], states[1], (first_data, second_data)


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


def training_data_of(checkpoint: dict[str, Any], data_dir: str | None, device: torch.device, download: bool = True
                     ) -> tuple[MNISTDataModule, dict[str, Any]]:  # fmt: skip
    """The data a checkpoint (read by `read_classifiers`) was trained on, tensors on `device`, and its data
    hyperparameters."""
    data_hparams = dict(checkpoint.get("datamodule_hyper_parameters", {}))
    return training_data(data_hparams, data_dir, device, download), data_hparams
