"""Random-features double descent: the minimum-norm readout against numpy's, the experiment on small IDX files, and
its rule on summaries where the peak is at N = n, elsewhere, missing, and where the test losses are shuffled."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import torch

from experiments import random_features
from hw1.reporting.verdicts import NOT_MEASURABLE, NOT_SUPPORTED, SUPPORTED, TREND_P_VALUE, judge_summary


def test_the_readout_is_numpys_minimum_norm_least_squares_solution() -> None:
    generator = torch.Generator().manual_seed(3)
    images = torch.randn(40, 1, 28, 28, generator=generator)
    labels = torch.randint(0, 10, (40,), generator=generator)
    for features in (10, 40, 120):  # under-, exactly and over-parameterised
        measured = random_features.fit((images, labels), (images[:8], labels[:8]), features, 5, torch.device("cpu"))
        drawn = torch.Generator().manual_seed(5)
        weights = torch.randn(784, features, generator=drawn) / 28.0
        biases = torch.randn(features, generator=drawn)
        phi = torch.relu(images.flatten(1) @ weights + biases).double().numpy()  # the features, as the fit draws them
        targets = np.eye(10)[labels.numpy()]
        readout = np.linalg.pinv(phi) @ targets
        assert np.isclose(measured["readout_norm"], np.linalg.norm(readout), rtol=1e-6)
        assert np.isclose(measured["train_loss"], ((phi @ readout - targets) ** 2).sum(1).mean(), rtol=1e-6, atol=1e-12)
    assert measured["train_loss"] < 1e-20 and measured["train_error"] == 0.0  # past N = n it interpolates


def test_the_experiment_fits_every_size_per_repeat_on_its_own_draw(tiny_mnist: Path, tmp_path: Path) -> None:
    flags = ["--profile", "smoke", "--accelerator", "cpu", "--data-dir", str(tiny_mnist), "--out-dir", str(tmp_path),
             "--seeds", "2", "--seed", "4", "--data-seed", "7", "--ratios", "0.5", "1", "2", "--test-samples", "50"]
    outcome = random_features.main(flags)
    rows = outcome["rows"]
    assert [row["name"] for row in rows] == ["N50-seed4", "N100-seed4", "N200-seed4", "N50-seed5", "N100-seed5", "N200-seed5"]
    assert {(row["seed_group"], row["settings"]["data_seed"]) for row in rows} == {(4, 7), (5, 8)}
    assert all(row["images"] == 100 and row["test_images"] == 50 for row in rows)
    assert all(row["train_loss"] < 1e-20 for row in rows if row["features"] > row["images"])
    folder = tmp_path / "random_features" / "version_0"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["settings"]["seeds"] == 2 and summary["settings"]["ratios"] == [0.5, 1.0, 2.0]
    for stem in ("loss", "error"):
        assert (folder / "figures" / f"{stem}.png").is_file()
        drawn = json.loads((folder / "figures" / f"{stem}.json").read_text())
        assert [series["name"] for series in drawn["series"]] == ["train", "test"]
        assert all(series["x"] == [0.5, 1.0, 2.0] for series in drawn["series"])


def rows(test_losses: list[float], seed: int, images: int = 100) -> list[dict]:
    sizes = [round(ratio * images) for ratio in random_features.RATIOS]
    return [{"name": f"N{size}-seed{seed}", "features": size, "ratio": size / images, "images": images,
             "seed_group": seed, "test_loss": loss, "test_error": 0.5, "readout_norm": 1.0, "settings": {}}
            for size, loss in zip(sizes, test_losses, strict=True)]  # fmt: skip


def judged(losses_by_seed: list[list[float]]) -> str:
    runs = [row for seed, losses in enumerate(losses_by_seed) for row in rows(losses, seed)]
    assert random_features.EXPECTATION is not None
    return judge_summary(random_features.EXPECTATION, {"settings": {}, "runs": runs, "figures": []}, {}).outcome


PEAKED = [0.5, 0.55, 0.7, 1.2, 3.0, 8.0, 60.0, 12.0, 5.0, 2.5, 1.4, 0.8, 0.6]  # highest at N = n (the 7th size)


def test_the_rule_holds_for_a_peak_at_n_and_fails_elsewhere() -> None:
    assert judged([PEAKED] * 3) == SUPPORTED
    shifted = PEAKED[:5] + [70.0] + PEAKED[6:]  # highest at 0.9n
    assert judged([PEAKED, PEAKED, shifted]) != SUPPORTED
    assert judged([sorted(PEAKED)] * 3) == NOT_SUPPORTED  # rising all the way: no second descent
    assert judged([PEAKED] * 2) == NOT_MEASURABLE  # fewer than three seeds


def test_the_rule_needs_a_fit_at_n() -> None:
    runs = [row for seed in range(3) for row in rows(PEAKED, seed) if row["ratio"] != 1.0]
    assert random_features.EXPECTATION is not None
    verdict = judge_summary(random_features.EXPECTATION, {"settings": {}, "runs": runs, "figures": []}, {})
    assert verdict.outcome == NOT_MEASURABLE and "N = n" in verdict.measured


def test_on_shuffled_sizes_the_rule_passes_no_more_often_than_its_chance_rate() -> None:
    shuffler = random.Random(0)
    trials, supported = 400, 0
    for _ in range(trials):
        seeds = []
        for _ in range(3):
            losses = list(PEAKED)
            shuffler.shuffle(losses)
            seeds.append(losses)
        supported += judged(seeds) == SUPPORTED
    chance = random_features.chance_of_peak(len(random_features.RATIOS), 3)
    assert chance < TREND_P_VALUE
    assert supported <= 3  # expected 400 · 4.6e-4 ≈ 0.2; P(4 or more) < 1e-4
