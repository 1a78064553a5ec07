"""Part 3, generalization: interpolation, sensitivity, sharpness, and the sweeps that use them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from benchmarks.sensitivity_speed import per_sample
from experiments import flatness_interpolation, flatness_sensitivity, params_vs_generalization, sharpness
from hw1.analysis.hessian import top_hessian_eigenvalue
from hw1.analysis.interpolation import interpolate
from hw1.analysis.sensitivity import classifier_sensitivity, jacobian_frobenius
from hw1.analysis.sharpness import ball_sharpness, keskar_sharpness
from hw1.runs.errors import UsageError
from hw1.runs.results import claim_result_dir
from hw1.training.builders import sweep_classifier
from hw1.training.data import MNISTDataModule
from hw1.training.fit import train_run
from hw1.training.minima import load_classifier_pair
from hw1.training.modules import Classifier
from hw1.training.nets import build_net, count_parameters


def smoke(tiny: Path, out: Path, *flags: str) -> list[str]:
    return ["--profile", "smoke", "--accelerator", "cpu", "--data-dir", str(tiny), "--out-dir", str(out), *flags]


@pytest.fixture(scope="module")
def interpolation_runs(tiny_mnist: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("interpolation")
    return flatness_interpolation.main(smoke(tiny_mnist, out, "--max-epochs", "2", "--hidden", "32"))


def test_interpolation_endpoints_reproduce_the_two_models(interpolation_runs: dict, tiny_mnist: Path) -> None:
    first, second = (interpolation_runs["results"][name] for name in ("small_batch", "large_batch"))
    curves = interpolate(first.checkpoint, second.checkpoint, [0.0, 0.5, 1.0], str(tiny_mnist), torch.device("cpu"))
    for alpha_index, result in ((0, first), (2, second)):
        assert curves["test"]["loss"][alpha_index] == pytest.approx(result.test_loss, rel=1e-5)
        assert curves["test"]["acc"][alpha_index] == pytest.approx(result.test_acc)
    assert curves["train"]["loss"][0] == pytest.approx(first.train_loss, rel=1e-5)
    # both models trained on the same training set (one data seed), so α = 1 is the second model's own train loss
    assert curves["same_training_set"] and curves["train"]["loss"][2] == pytest.approx(second.train_loss, rel=1e-5)
    assert first.settings["init_seed"] != second.settings["init_seed"]
    assert curves["train"]["loss"][1] not in (curves["train"]["loss"][0], curves["train"]["loss"][2])
    figures = interpolation_runs["figures"]
    assert [f.stem for f in figures] == ["interpolation_small_batch_to_large_batch", "interpolation_small_batch_to_large_lr"]
    numbers = json.loads(figures[0].with_suffix(".json").read_text())
    assert len(numbers["alphas"]) == 7 and numbers["alphas"][0] == -1.0 and numbers["alphas"][-1] == 2.0


def test_interpolation_refuses_two_architectures_and_corrupt_files(
    interpolation_runs: dict, tiny_mnist: Path, tmp_path: Path
) -> None:
    settings = interpolation_runs["settings"].with_values(out_dir=str(tmp_path), batch_size=64, lr=1e-3)
    other = train_run(claim_result_dir(tmp_path, "other", False), "wide",
                      *sweep_classifier(settings, "mlp", {"hidden": [16]}), settings)  # fmt: skip
    first = interpolation_runs["results"]["small_batch"].checkpoint
    with pytest.raises(UsageError, match="one architecture"):
        load_classifier_pair(first, other.checkpoint, torch.device("cpu"))
    broken = tmp_path / "broken.ckpt"
    broken.write_bytes(Path(first).read_bytes()[:1000])
    with pytest.raises(UsageError, match="is unreadable"):
        load_classifier_pair(first, str(broken), torch.device("cpu"))


def test_sensitivity_of_a_linear_map_is_its_weights_frobenius_norm() -> None:
    weight = torch.randn(7, 12, dtype=torch.float64)
    inputs = torch.randn(5, 12, dtype=torch.float64)
    norms = jacobian_frobenius(lambda x: x @ weight.T, inputs)  # the batched passes the callback uses
    assert torch.allclose(norms, torch.linalg.matrix_norm(weight).expand(5))


def test_sensitivity_equals_per_sample_autograd() -> None:
    torch.manual_seed(0)
    model = Classifier("lenet").double()
    inputs = torch.randn(6, 1, 28, 28, dtype=torch.float64)
    targets = torch.randint(10, (6,))
    ours = classifier_sensitivity(model, inputs, targets)
    reference = per_sample(model, inputs, targets)
    assert ours["jacobian"] == pytest.approx(reference["jacobian"], rel=1e-9)
    assert ours["loss_gradient"] == pytest.approx(reference["loss_gradient"], rel=1e-9)


def test_sharpness_of_a_quadratic_matches_its_closed_form() -> None:
    generator = torch.Generator().manual_seed(0)
    root = torch.randn(8, 8, generator=generator, dtype=torch.float64)
    matrix = root @ root.T
    loss = lambda theta: 0.5 * theta @ matrix @ theta  # noqa: E731
    theta = torch.zeros(8, dtype=torch.float64)
    largest = torch.linalg.eigvalsh(matrix)[-1].item()
    top = top_hessian_eigenvalue(loss, theta, 8, generator)
    assert top.values[0] == pytest.approx(largest, rel=1e-9)
    assert top.residuals[0] < 1e-8 * largest
    epsilon = 0.1
    assert ball_sharpness(loss, theta, epsilon, 200, generator) == pytest.approx(largest * epsilon**2 / 2, rel=1e-4)
    indefinite = torch.diag(torch.tensor([-5.0, -1.0, 0.5, 2.0], dtype=torch.float64))
    assert top_hessian_eigenvalue(lambda t: 0.5 * t @ indefinite @ t, torch.zeros(4, dtype=torch.float64), 4,
                                  generator).values[0] == pytest.approx(2.0, rel=1e-9)  # fmt: skip


def test_keskar_sharpness_of_a_separable_quadratic_matches_its_closed_form() -> None:
    """L(θ) = Σ a_i θ_i² + b_i θ_i is convex in each coordinate, so its maximum over the box |y_i| ≤ w_i,
    w_i = ε(|θ_i| + 1), is at the corner y_i = w_i · sign(2 a_i θ_i + b_i), where
    L(θ + y) − L(θ) = Σ a_i w_i² + |2 a_i θ_i + b_i| w_i."""
    generator = torch.Generator().manual_seed(3)
    a, b, theta = (torch.rand(50, generator=generator, dtype=torch.float64) + 0.5,
                   torch.randn(50, generator=generator, dtype=torch.float64),
                   torch.randn(50, generator=generator, dtype=torch.float64))  # fmt: skip
    loss = lambda t: (a * t * t + b * t).sum()  # noqa: E731
    for epsilon in (1e-3, 5e-4):
        width = epsilon * (theta.abs() + 1)
        rise = float((a * width**2 + (2 * a * theta + b).abs() * width).sum())
        expected = 100 * rise / (1 + float(loss(theta)))
        assert keskar_sharpness(loss, theta, epsilon) == pytest.approx(expected, rel=1e-9)


def test_params_sweep_spans_sizes_and_draws_both_figures(tiny_mnist: Path, tmp_path: Path) -> None:
    outcome = params_vs_generalization.main(smoke(tiny_mnist, tmp_path, "--seeds", "2"))
    params = [row["params"] for row in outcome["table"]]
    assert params == [count_parameters(build_net("mlp", hidden=[w, w])) for w in (2, 8, 32)] == [1606, 6442, 26506]
    assert all(len(row["test_acc"]) == 2 for row in outcome["table"])
    figures = json.loads((tmp_path / "params_vs_generalization" / "version_0" / "summary.json").read_text())["figures"]
    assert [Path(f).name for f in figures] == ["loss.png", "accuracy.png"]


def test_sensitivity_sweep_reports_every_batch_size(tiny_mnist: Path, tmp_path: Path) -> None:
    rows = flatness_sensitivity.main(smoke(tiny_mnist, tmp_path))["rows"]
    assert [row["batch_size"] for row in rows] == [8, 16, 32, 64, 128]
    assert all(row["sensitivity_jacobian"] > 0 and row["sensitivity_loss_gradient"] > 0 for row in rows)
    assert len({row["test_loss"] for row in rows}) == 5  # five different models, not copies of one number


def test_sharpness_sweep(tiny_mnist: Path, tmp_path: Path) -> None:
    rows = sharpness.main(smoke(tiny_mnist, tmp_path))["rows"]
    assert [row["batch_size"] for row in rows] == [8, 16, 32, 64, 128]
    assert all(row["keskar_sharpness_0.001"] > 0 and row["keskar_sharpness_0.0005"] > 0 for row in rows)
    assert all(row["ball_sharpness"] >= 0 and row["lambda_max"] > -1e-6 for row in rows)
    datamodule = MNISTDataModule(tiny_mnist, train_subset=256)
    datamodule.setup()
    assert rows[0]["subset_loss"] > 0


def test_interpolating_models_of_two_training_sets_says_so(
    interpolation_runs: dict, tiny_mnist: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    settings = interpolation_runs["settings"].with_values(out_dir=str(tmp_path), data_seed=7, batch_size=64, lr=1e-3)
    other = train_run(claim_result_dir(tmp_path, "other", False), "data7",
                      *sweep_classifier(settings, "mlp", {"hidden": [32]}), settings)  # fmt: skip
    first = interpolation_runs["results"]["small_batch"]
    curves = interpolate(first.checkpoint, other.checkpoint, [0.0, 1.0], str(tiny_mnist), torch.device("cpu"))
    assert curves["same_training_set"] is False and curves["training_set"]["data_seed"] == 0
    assert "trained on another training set" in capsys.readouterr().out
    assert curves["train"]["loss"][0] == pytest.approx(first.train_loss, rel=1e-5)
