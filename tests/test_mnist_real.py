"""Integration tests on the real MNIST files in $HW1_DATA_DIR (skipped, with the reason, when they are absent)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from experiments import flatness_interpolation, random_labels
from hw1.reporting.logs import epoch_curves
from hw1.reporting.plots import data_path
from hw1.training.data import MNISTDataModule, load_mnist
from hw1.training.minima import TRAINING_SET_KEYS

# Class counts published with the data set (shared/data/MNIST/SOURCE.md).
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_real_files_decode_to_the_published_shapes_and_counts(real_mnist: Path) -> None:
    arrays = load_mnist((real_mnist / "MNIST" / "raw").resolve())
    assert arrays["train_images"].shape == (60000, 28, 28) and arrays["test_images"].shape == (10000, 28, 28)
    assert torch.bincount(arrays["train_labels"].long()).tolist() == TRAIN_COUNTS
    assert torch.bincount(arrays["test_labels"].long()).tolist() == TEST_COUNTS
    datamodule = MNISTDataModule(real_mnist, label_mode="shuffle", download=False)
    datamodule.setup()
    assert torch.bincount(datamodule.train[1]).tolist() == TRAIN_COUNTS
    assert abs(datamodule.train[0].mean().item()) < 0.01 and abs(datamodule.train[0].std().item() - 1) < 0.01


def test_quick_profile_memorises_1000_shuffled_labels(real_mnist: Path, tmp_path: Path) -> None:
    """Zhang et al.: ~100% training accuracy on random labels, chance on the test set, a rising test loss."""
    outcome = random_labels.main(["--profile", "quick", "--accelerator", "cpu", "--data-dir", str(real_mnist),
                                  "--out-dir", str(tmp_path), "--checkpoint-every", "0", "--seeds", "1",
                                  "--label-fractions", "1"])  # fmt: skip
    result = outcome["result"]
    assert result.target_reached and result.train_loss < 0.01
    assert outcome["settings"].data.train_subset == 1000 and outcome["settings"].label_mode == "shuffle"
    assert result.train_acc >= 0.99
    assert 0.05 < result.test_acc < 0.15
    curves = epoch_curves(result.log_dir, ["test/loss"])
    assert curves["test/loss"][1][-1] > curves["test/loss"][1][0] + 0.5


def test_quick_interpolation_endpoints_share_one_training_set(real_mnist: Path, tmp_path: Path) -> None:
    """The quick profile's endpoint models start from other weights but train on the same 4,096 images and labels;
    the curve's α = 0 and α = 1 train losses are each model's own eval-pass train loss."""
    outcome = flatness_interpolation.main(["--profile", "quick", "--accelerator", "cpu", "--data-dir", str(real_mnist),
                                           "--out-dir", str(tmp_path), "--max-epochs", "1", "--points", "4",
                                           "--seeds", "1"])  # fmt: skip
    small, large = outcome["results"]["small_batch"], outcome["results"]["large_batch"]
    datamodules = []
    for result in (small, large):
        hparams = torch.load(result.checkpoint, map_location="cpu", weights_only=False)["datamodule_hyper_parameters"]
        datamodule = MNISTDataModule(real_mnist, **{key: hparams[key] for key in TRAINING_SET_KEYS}, download=False)
        datamodule.setup()
        datamodules.append(datamodule)
    assert len(datamodules[0].training_indices()) == 4096
    assert torch.equal(datamodules[0].training_indices(), datamodules[1].training_indices())
    assert torch.equal(datamodules[0].train[1], datamodules[1].train[1])
    assert small.settings["init_seed"] != large.settings["init_seed"]
    curve = json.loads(data_path(outcome["figures"][0]).read_text())
    assert curve["same_training_set"] is True
    assert curve["train"]["loss"][curve["alphas"].index(0.0)] == pytest.approx(small.train_loss, abs=1e-6)
    assert curve["train"]["loss"][curve["alphas"].index(1.0)] == pytest.approx(large.train_loss, abs=1e-6)
