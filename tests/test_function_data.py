"""Deep vs shallow: target functions, budget-sized nets and a real short fit."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from experiments import simulate_function
from hw1.reporting.logs import read_scalars
from hw1.runs.errors import UsageError
from hw1.training.function_data import REFERENCE_NETS, TARGETS, FunctionDataModule
from hw1.training.nets import build_net, count_parameters, mlp_parameter_count, widths_for_budget


@pytest.mark.parametrize(
    ("name", "x", "y"),
    [
        ("sinc", 0.0, 1.0),
        ("sinc", 0.1, 2 / math.pi),  # sin(π/2) / (π/2)
        ("sinc", 0.2, 0.0),
        ("sinc", -0.3, -1 / (1.5 * math.pi)),
        ("sgn_sin", 0.1, 1.0),
        ("sgn_sin", 0.3, -1.0),
        ("sgn_sin", -0.1, -1.0),
        ("poly", 0.0, 1.0),
        ("poly", 1.0, 7.0),
        ("poly", -2.0, -5.0),
        ("cos", 0.0, 1.0),
        ("cos", math.pi, -1.0),
    ],
)
def test_function_values_at_known_points(name: str, x: float, y: float) -> None:
    assert TARGETS[name](torch.tensor([x], dtype=torch.float64)).item() == pytest.approx(y, abs=1e-12)


def test_reference_nets_have_the_assignments_parameter_counts() -> None:
    counts = {name: count_parameters(build_net("mlp", hidden=widths, in_features=1, out_features=1))
              for name, widths in REFERENCE_NETS.items()}  # fmt: skip
    assert counts == {"deep": 571, "medium": 572, "shallow": 571}
    assert all(mlp_parameter_count(widths) == counts[name] for name, widths in REFERENCE_NETS.items())


@pytest.mark.parametrize("budget", [571, 2_000, 10_000])
@pytest.mark.parametrize("depth", [1, 2, 3, 4, 6])
def test_width_helper_hits_the_budget(depth: int, budget: int) -> None:
    widths = widths_for_budget(depth, budget)
    assert len(widths) == depth
    assert abs(mlp_parameter_count(widths) - budget) <= 0.01 * budget
    assert count_parameters(build_net("mlp", hidden=widths, in_features=1, out_features=1)) == mlp_parameter_count(widths)


def test_width_helper_refuses_impossible_budgets() -> None:
    with pytest.raises(UsageError, match="no 5-layer net comes within 1% of 20 parameters"):
        widths_for_budget(5, 20)


def test_full_batch_epochs_serve_the_tensors_without_copying() -> None:
    datamodule = FunctionDataModule("sinc", train_points=50, steps_per_epoch=7)
    datamodule.setup()
    batches = list(datamodule.train_dataloader())
    assert len(batches) == len(datamodule.train_dataloader()) == 7
    assert all(x is datamodule.train[0] for x, _ in batches)
    x, y = datamodule.train
    assert x.shape == (50, 1) and torch.equal(y, TARGETS["sinc"](x)) and x.min() == -1 and x.max() == 1


def test_bad_function_settings() -> None:
    with pytest.raises(UsageError, match="unknown function 'tan'"):
        FunctionDataModule("tan")
    with pytest.raises(UsageError, match="--x-min must be below --x-max"):
        FunctionDataModule("sinc", x_min=1, x_max=0)


def test_a_short_fit_lowers_the_loss_and_reports_real_counts(tmp_path: Path) -> None:
    outcome = simulate_function.main(["--profile", "smoke", "--accelerator", "cpu", "--out-dir", str(tmp_path),
                                      "--functions", "sinc", "--max-epochs", "10", "--lr", "0.01"])  # fmt: skip
    results = outcome["results"]
    assert [r.params for r in results] == [571, 572, 571]
    for result in results:
        losses = read_scalars(result.log_dir)["train/loss_step"]
        assert sorted(losses) == list(range(100))  # 10 epochs of 10 full-batch steps
        assert result.train_loss < 0.8 * losses[0]
    summary = json.loads((tmp_path / "simulate_function" / "version_0" / "summary.json").read_text())
    assert [run["params"] for run in summary["runs"]] == [571, 572, 571]
    assert {Path(f).name for f in summary["figures"]} == {"loss_sinc.png", "fit_sinc.png"}
    assert all(Path(f).read_bytes()[:4] == b"\x89PNG" for f in summary["figures"])
