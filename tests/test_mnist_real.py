"""Integration tests on the real MNIST files in $HW1_DATA_DIR (skipped, with the reason, when they are absent)."""

from __future__ import annotations

from pathlib import Path

import torch

from experiments import random_labels
from hw1.data import MNISTDataModule, load_mnist
from hw1.logs import epoch_curves

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
                                  "--out-dir", str(tmp_path), "--checkpoint-every", "0"])  # fmt: skip
    result = outcome["result"]
    assert outcome["settings"]["train_subset"] == 1000 and outcome["settings"]["label_mode"] == "shuffle"
    assert result.train_acc >= 0.99
    assert 0.05 < result.test_acc < 0.15
    curves = epoch_curves(result.log_dir, ["test/loss"])
    assert curves["test/loss"][1][-1] > curves["test/loss"][1][0] + 0.5
