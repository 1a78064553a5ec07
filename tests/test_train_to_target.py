"""Training to a target: real Trainers stop once the eval-pass training loss is below --target-loss (or the loss stops
falling, with --plateau-epochs), at the --max-epochs cap otherwise; summary rows say which, where and when; a resumed
run that had stopped trains no further; experiments that compare fixed training lengths refuse the flags."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments import random_labels, sharpness


def flags(tiny: Path, out: Path, *more: str) -> list[str]:
    return ["--profile", "smoke", "--accelerator", "cpu", "--data-dir", str(tiny), "--out-dir", str(out), *more]


def test_a_run_stops_at_its_target_and_records_where(tiny_mnist: Path, tmp_path: Path) -> None:
    rows = sharpness.main(flags(tiny_mnist, tmp_path, "--batch-sizes", "32", "--target-loss", "2.2", "--max-epochs", "30",
                                "--lr", "0.003"))["rows"]  # fmt: skip
    (row,) = rows
    assert row["target_reached"] is True and row["stopped_by"] == "target" and row["target_loss"] == 2.2
    assert 1 <= row["target_epoch"] == row["epochs"] < 30
    assert row["target_step"] == row["epochs"] * 8  # the smoke subset, 256 images at batch 32: 8 steps an epoch
    assert row["train_loss"] < 2.2  # the eval pass after training measures the model the target was judged on
    assert row["settings"]["target_loss"] == 2.2 and row["settings"]["max_epochs"] == 30
    scalars = json.loads((tmp_path / "sharpness" / "version_0" / "summary.json").read_text())["runs"][0]
    assert scalars["target_step"] == row["target_step"]


def test_an_unreachable_target_stops_at_the_cap(tiny_mnist: Path, tmp_path: Path) -> None:
    (row,) = sharpness.main(flags(tiny_mnist, tmp_path, "--batch-sizes", "64", "--target-loss", "1e-9",
                                  "--max-epochs", "2"))["rows"]  # fmt: skip
    assert row["target_reached"] is False and row["stopped_by"] == "epoch cap" and row["epochs"] == 2
    assert row["target_epoch"] is None and row["target_step"] is None


def test_a_loss_that_stops_falling_ends_the_run_with_plateau_epochs(tiny_mnist: Path, tmp_path: Path) -> None:
    (row,) = sharpness.main(flags(tiny_mnist, tmp_path, "--batch-sizes", "64", "--target-loss", "1e-9", "--lr", "1e-9",
                                  "--plateau-epochs", "2", "--max-epochs", "20"))["rows"]  # fmt: skip
    assert row["stopped_by"] == "plateau" and row["target_reached"] is False and row["epochs"] == 3


def test_a_resumed_run_that_reached_its_target_trains_no_further(tiny_mnist: Path, tmp_path: Path) -> None:
    first = random_labels.main(flags(tiny_mnist, tmp_path, "--target-loss", "2.25", "--max-epochs", "40",
                                     "--label-fractions", "0", "--lr", "0.003"))["result"]  # fmt: skip
    assert first.target_reached and first.epochs < 40
    again = random_labels.main(flags(tiny_mnist, tmp_path, "--target-loss", "2.25", "--max-epochs", "60",
                                     "--label-fractions", "0", "--lr", "0.003", "--resume"))["result"]  # fmt: skip
    assert again.epochs == first.epochs and again.target_step == first.target_step
    assert again.train_loss == pytest.approx(first.train_loss, abs=1e-7)


@pytest.mark.parametrize("experiment", ["grad_norm", "optimization_pca", "simulate_function", "minimal_ratio"])
def test_experiments_of_fixed_length_refuse_a_target(experiment: str, tiny_mnist: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:  # fmt: skip
    import importlib

    module = importlib.import_module(f"experiments.{experiment}")
    with pytest.raises(SystemExit) as refused:
        given = ["--profile", "smoke", "--accelerator", "cpu", "--out-dir", str(tmp_path), "--target-loss", "0.1"]
        module.main(given + (["--data-dir", str(tiny_mnist)] if experiment == "optimization_pca" else []))
    assert refused.value.code == 2
    assert "--target-loss has no effect here" in capsys.readouterr().err
    assert not (tmp_path / experiment).exists()
