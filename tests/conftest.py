"""Shared fixtures: small MNIST-format IDX files written by the tests, and the real data set when available."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import pytest
import torch

from hw1.training.data import DATA_DIR_ENV, MNIST_FILES, write_idx


def synthetic_digits(count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 28×28 images whose class is a bright 6×6 patch at one of ten places, plus noise."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(count) % 10
    labels = labels[torch.randperm(count, generator=generator)]
    images = torch.randint(0, 60, (count, 28, 28), generator=generator, dtype=torch.uint8)
    for index, label in enumerate(labels.tolist()):
        row, col = 2 + (label // 5) * 14, 2 + (label % 5) * 5
        images[index, row : row + 6, col : col + 5] = 250
    return images, labels.to(torch.uint8)


def write_mnist(folder: Path, train: int = 300, test: int = 100) -> Path:
    raw = folder / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for split, count, seed in (("train", train, 0), ("test", test, 1)):
        images, labels = synthetic_digits(count, seed)
        write_idx(raw / MNIST_FILES[f"{split}_images"], images)
        write_idx(raw / MNIST_FILES[f"{split}_labels"], labels)
    return folder


@pytest.fixture(scope="session")
def tiny_mnist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder with 300 training and 100 test images in the four MNIST .gz files."""
    return write_mnist(tmp_path_factory.mktemp("tiny_mnist"))


@pytest.fixture(scope="session")
def real_mnist() -> Path:
    """The real MNIST folder from $HW1_DATA_DIR; the test is skipped when it is not there."""
    folder = os.environ.get(DATA_DIR_ENV)
    if not folder or not all((Path(folder) / "MNIST" / "raw" / name).is_file() for name in MNIST_FILES.values()):
        pytest.skip(f"the real MNIST files are not in ${DATA_DIR_ENV}/MNIST/raw (set {DATA_DIR_ENV} to run this test)")
    return Path(folder)


@pytest.fixture(scope="session")
def smoke_suite(tiny_mnist: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Every experiment once with the smoke profile on the small IDX files, through run_all, as a new user runs it.

    Returns run_all's outcome with the output folder (`out_dir`), the flags and everything it printed (`output`).
    """
    from experiments import run_all

    out_dir = tmp_path_factory.mktemp("smoke_suite")
    flags = ["--profile", "smoke", "--accelerator", "cpu", "--data-dir", str(tiny_mnist), "--out-dir", str(out_dir)]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        outcome = run_all.main(flags)
    return {**outcome, "out_dir": out_dir, "flags": flags, "output": printed.getvalue()}
