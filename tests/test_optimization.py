"""Part 2, optimization: weight recorder, gradient norm, PCA of trajectories, Hessians and minimal ratio."""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch

from callbacks.grad_norm import GradNormLogger
from experiments import grad_norm, minimal_ratio, optimization_pca
from hw1.analysis.flat_model import FlatModel
from hw1.analysis.minimal_ratio import (
    eigenvalue_signs,
    gradient_fraction_in_null_space,
    hessian_eigenvalues,
    levenberg_marquardt_gradient_norm,
    minimal_ratio_from_eigenvalues,
    minimal_ratio_from_samples,
    minimal_ratio_of_nonzero,
    minimize_gradient_norm,
    train_together,
)
from hw1.analysis.pca import first_layer_mask, project_trajectories
from hw1.reporting.logs import read_scalars
from hw1.training.builders import seed_everything
from hw1.training.function_data import FunctionDataModule
from hw1.training.modules import Regressor
from hw1.training.nets import build_net
from hw1.training.snapshots import read_snapshots


def test_recorder_writes_epoch_zero_and_every_third_epoch(tiny_mnist: Path, tmp_path: Path) -> None:
    flags = ["--profile", "smoke", "--accelerator", "cpu", "--data-dir", str(tiny_mnist), "--out-dir", str(tmp_path),
             "--runs", "2", "--max-epochs", "7"]  # fmt: skip
    outcome = optimization_pca.main(flags)
    snapshots = read_snapshots(outcome["results"][0].log_dir)
    assert [s["epoch"] for s in snapshots] == [0, 3, 6]
    seed_everything(0)
    initial = build_net("mlp", hidden=[10, 20])
    assert torch.equal(snapshots[0]["vector"], torch.cat([p.detach().flatten() for p in initial.parameters()]))
    assert snapshots[0]["names"][0] == "net.1.weight" and len(snapshots[0]["vector"]) == outcome["results"][0].params
    assert all(0 <= s["test_acc"] <= 1 and s["train_loss"] > 0 for s in snapshots)
    assert not torch.equal(snapshots[1]["vector"], snapshots[2]["vector"])
    resumed = optimization_pca.main([*flags, "--max-epochs", "9", "--resume"])
    assert [s["epoch"] for s in read_snapshots(resumed["results"][0].log_dir)] == [0, 3, 6, 9]
    assert {Path(f).name for f in resumed["figures"]} == {"pca_whole_model.png", "pca_first_layer.png"}


def test_logged_gradient_norm_equals_a_direct_computation(tmp_path: Path) -> None:
    datamodule = FunctionDataModule("sinc", train_points=64, steps_per_epoch=1)
    datamodule.setup()
    config = {"hidden": [8, 8], "in_features": 1, "out_features": 1}
    seed_everything(3)
    reference = Regressor("mlp", config)
    x, y = datamodule.train
    torch.nn.functional.mse_loss(reference(x), y).backward()
    expected = sum(float(p.grad.pow(2).sum()) for p in reference.parameters()) ** 0.5

    seed_everything(3)
    module = Regressor("mlp", config)
    trainer = L.Trainer(max_epochs=1, accelerator="cpu", logger=L.pytorch.loggers.TensorBoardLogger(tmp_path),
                        callbacks=[GradNormLogger(per_layer=True)], enable_checkpointing=False, limit_val_batches=0,
                        enable_progress_bar=False)  # fmt: skip
    trainer.fit(module, datamodule=datamodule)
    scalars = read_scalars(trainer.log_dir)
    assert scalars["train/grad_norm"][0] == pytest.approx(expected, rel=1e-5)
    per_layer = [values[0] for tag, values in scalars.items() if tag.startswith("grad_norm/")]
    assert len(per_layer) == 6 and sum(v**2 for v in per_layer) ** 0.5 == pytest.approx(expected, rel=1e-5)


def test_grad_norm_experiment_draws_both_series(tmp_path: Path) -> None:
    outcome = grad_norm.main(["--profile", "smoke", "--accelerator", "cpu", "--out-dir", str(tmp_path)])
    steps, norms = outcome["series"]["gradient norm"]
    assert steps == list(range(20)) and all(n > 0 for n in norms)
    assert outcome["series"]["loss"][0] == steps
    for k in ("1", "3"):  # one value per optimizer step however many steps a Lightning step takes
        chunked = grad_norm.main(["--profile", "smoke", "--accelerator", "cpu", "--out-dir", str(tmp_path / k),
                                  "--steps-per-chunk", k])  # fmt: skip
        for series in ("gradient norm", "loss"):
            assert chunked["series"][series][0] == steps
            assert chunked["series"][series][1] == pytest.approx(outcome["series"][series][1], abs=1e-6)
    assert (tmp_path / "grad_norm" / "version_0" / "figures" / "grad_norm_sinc.png").read_bytes()[:4] == b"\x89PNG"


def snapshot(vector: list[float], epoch: int) -> dict:
    return {"epoch": epoch, "names": ["net.1.weight", "net.1.bias", "net.3.weight"], "shapes": [(2,), (1,), (2,)],
            "vector": torch.tensor(vector), "test_acc": 0.5}  # fmt: skip


def test_pca_of_a_known_trajectory() -> None:
    """Points moving along one straight line (plus a constant offset per run) lie on PC1, in order."""
    direction = np.array([1.0, 2.0, 0.0, -1.0, 0.5])
    runs = {f"run{r}": [snapshot(list(t * direction + r * np.array([0, 0, 1, 0, 0])), 3 * t) for t in range(5)]
            for r in range(2)}  # fmt: skip
    points, pca = project_trajectories(runs)
    assert pca.explained_variance_ratio_.sum() == pytest.approx(1.0)
    assert abs(abs(pca.components_[0] @ direction) / np.linalg.norm(direction) - 1) < 1e-6
    for xy in points.values():
        steps = np.diff(xy[:, 0])
        assert np.all(steps > 0) or np.all(steps < 0)
    assert first_layer_mask(runs["run0"][0]["names"], runs["run0"][0]["shapes"]).tolist() == [True, True, True, False, False]
    first_points, _ = project_trajectories(runs, first_layer=True)
    assert first_points["run0"].shape == (5, 2)


def quadratic(matrix: torch.Tensor, offset: torch.Tensor):
    return lambda theta: 0.5 * theta @ matrix @ theta + offset @ theta


def test_hessian_of_a_quadratic_is_exact() -> None:
    generator = torch.Generator().manual_seed(0)
    root = torch.randn(6, 6, generator=generator, dtype=torch.float64)
    matrix = root + root.T  # indefinite
    loss = quadratic(matrix, torch.randn(6, generator=generator, dtype=torch.float64))
    thetas = torch.randn(4, 6, generator=generator, dtype=torch.float64)
    eigenvalues = hessian_eigenvalues(loss, thetas)
    expected = torch.linalg.eigvalsh(matrix)
    assert torch.allclose(eigenvalues, expected.expand(4, -1), atol=1e-10)
    assert minimal_ratio_from_eigenvalues(eigenvalues)[0].item() == pytest.approx((expected > 0).double().mean().item())


def test_minimal_ratio_of_a_convex_quadratic_is_one() -> None:
    generator = torch.Generator().manual_seed(1)
    root = torch.randn(5, 5, generator=generator, dtype=torch.float64)
    matrix = root @ root.T + 0.1 * torch.eye(5, dtype=torch.float64)
    offset = torch.randn(5, generator=generator, dtype=torch.float64)
    loss = quadratic(matrix, offset)
    minimum = torch.linalg.solve(matrix, -offset).unsqueeze(0)
    thetas, norms, _, _ = minimize_gradient_norm(loss, minimum + 0.01, tolerance=1e-6, max_steps=5000, lr=1e-3)
    assert norms.item() < 1e-6
    assert minimal_ratio_from_eigenvalues(hessian_eigenvalues(loss, thetas)).item() == 1.0
    assert minimal_ratio_from_samples(loss, minimum, 1e-2, 200, generator).item() == 1.0


def test_hessian_of_a_small_net_matches_an_independent_computation() -> None:
    """The seed's Hessian was all zeros: compare with autograd's Hessian of a hand-written forward pass."""
    torch.manual_seed(0)
    net = build_net("mlp", hidden=[3], in_features=1, out_features=1, activation="tanh").double()
    model = FlatModel.of(net)
    x = torch.linspace(-1, 1, 20, dtype=torch.float64).unsqueeze(1)
    y = torch.sin(3 * x)
    theta = model.flatten()

    def by_hand(t: torch.Tensor) -> torch.Tensor:
        w1, b1, w2, b2 = t[0:3].view(3, 1), t[3:6], t[6:9].view(1, 3), t[9:10]
        return ((torch.tanh(x @ w1.T + b1) @ w2.T + b2 - y) ** 2).mean()

    assert model.names == ["1.weight", "1.bias", "3.weight", "3.bias"]
    independent = torch.autograd.functional.hessian(by_hand, theta)
    assert independent.abs().max() > 0.01
    ours = hessian_eigenvalues(model.mse_loss(x, y), theta.unsqueeze(0))[0]
    assert torch.allclose(ours, torch.linalg.eigvalsh(independent), atol=1e-10)


def test_runs_trained_together_equal_runs_trained_alone() -> None:
    torch.manual_seed(0)
    model = FlatModel.of(build_net("mlp", hidden=[4], in_features=1, out_features=1))
    x = torch.linspace(-1, 1, 30).unsqueeze(1)
    loss = model.mse_loss(x, torch.cos(3 * x))
    thetas = torch.randn(3, model.size) * 0.5
    together, _ = train_together(loss, thetas, steps=20, lr=1e-2)
    alone = torch.cat([train_together(loss, thetas[i : i + 1], steps=20, lr=1e-2)[0] for i in range(3)])
    assert torch.allclose(together, alone, atol=1e-6)
    first, state = train_together(loss, thetas, steps=8, lr=1e-2)
    continued, _ = train_together(loss, first, steps=12, lr=1e-2, optimizer_state=state)
    assert torch.allclose(continued, together, atol=1e-6)  # stopping and continuing changes nothing


def test_eigenvalues_within_the_zero_tolerance_count_as_zero() -> None:
    spectrum = torch.tensor([[-2.0, -1e-12, 0.0, 3e-13, 1e-9, 4.0]], dtype=torch.float64)
    signs = eigenvalue_signs(spectrum, zero_tolerance=1e-8)
    assert [int(signs[key]) for key in ("positive", "zero", "negative")] == [1, 4, 1]
    assert minimal_ratio_from_eigenvalues(spectrum, 1e-8).item() == pytest.approx(1 / 6)
    assert minimal_ratio_of_nonzero(spectrum, 1e-8).item() == pytest.approx(1 / 2)
    assert minimal_ratio_from_eigenvalues(spectrum, 1e-12).item() == pytest.approx(2 / 6)  # 1e-9 > 1e-12·4


def test_gradient_fraction_in_the_null_space() -> None:
    eigenvalues = torch.tensor([[0.0, 1e-9, 2.0]], dtype=torch.float64)
    rotation = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))[0]
    gradient = rotation @ torch.tensor([3.0, 0.0, 4.0], dtype=torch.float64)
    fraction = gradient_fraction_in_null_space(eigenvalues, rotation.unsqueeze(0), gradient.unsqueeze(0), 1e-8)
    assert fraction.item() == pytest.approx(3 / 5)


def test_levenberg_marquardt_finds_the_critical_point_of_a_quadratic() -> None:
    generator = torch.Generator().manual_seed(2)
    root = torch.randn(6, 6, generator=generator, dtype=torch.float64)
    matrix, offset = root + root.T, torch.randn(6, generator=generator, dtype=torch.float64)  # a saddle
    loss = quadratic(matrix, offset)
    start = torch.randn(3, 6, generator=generator, dtype=torch.float64)
    thetas, norms, steps, damping = levenberg_marquardt_gradient_norm(loss, start, 1e-10, max_steps=30)
    assert (norms < 1e-10).all() and (steps <= 30).all() and (damping > 0).all()
    assert torch.allclose(thetas, torch.linalg.solve(matrix, -offset).expand(3, -1), atol=1e-8)
    first, _, _, state = levenberg_marquardt_gradient_norm(loss, start, 1e-10, max_steps=2)
    continued, _, _, _ = levenberg_marquardt_gradient_norm(loss, first, 1e-10, max_steps=28, damping=state)
    assert torch.allclose(continued, thetas, atol=1e-8)


@pytest.fixture(scope="module")
def minimal_ratio_smoke(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("minimal_ratio")
    minimal_ratio.main(["--profile", "smoke", "--accelerator", "cpu", "--out-dir", str(out)])
    return out / "minimal_ratio" / "version_0"


def test_minimal_ratio_experiment_reports_every_run(minimal_ratio_smoke: Path) -> None:
    summary = json.loads((minimal_ratio_smoke / "summary.json").read_text())
    assert len(summary["runs"]) == 3 and summary["settings"]["zero_tolerance"] == 1e-8
    for run in summary["runs"]:
        assert run["params"] == 321 and 0 <= run["minimal_ratio_hessian"] <= run["minimal_ratio_hessian_nonzero"] <= 1
        assert 0 <= run["minimal_ratio_sampled"] <= 1
        assert run["positive_eigenvalues"] + run["zero_eigenvalues"] + run["negative_eigenvalues"] == 321
        assert run["minimal_ratio_hessian"] == run["positive_eigenvalues"] / 321
        assert run["min_eigenvalue"] <= run["max_eigenvalue"] and run["max_eigenvalue"] > 0
        assert run["grad_norm"] <= run["grad_norm_after_adam"] and run["loss"] > 0
        assert run["point"] in ("critical", "gradient-flat", "near-critical")
        assert (run["point"] == "critical") == (run["grad_norm"] < summary["settings"]["grad_tolerance"])
        assert 0 <= run["gradient_fraction_zero_space"] <= run["gradient_fraction_flat_space"] <= 1


def by_hand_mse(state: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor):
    """θ ↦ MSE of the ELU MLP whose layers are the state dict's weight/bias pairs in order, written out by hand."""
    names = list(state)
    sizes = [state[name].numel() for name in names]

    def mse(theta: torch.Tensor) -> torch.Tensor:
        tensors = dict(zip(names, (chunk.view(state[n].shape) for n, chunk in zip(names, theta.split(sizes), strict=True)),
                           strict=True))  # fmt: skip
        layers = [(tensors[w], tensors[w.replace("weight", "bias")]) for w in names if w.endswith("weight")]
        h = x
        for index, (weight, bias) in enumerate(layers):
            h = h @ weight.T + bias
            if index < len(layers) - 1:
                h = torch.nn.functional.elu(h)
        return ((h - y) ** 2).mean()

    return mse


def test_saved_parameters_rebuild_the_reported_spectrum(minimal_ratio_smoke: Path) -> None:
    """An independent float64 Hessian (torch.autograd.functional) at each saved θ gives the reported counts and ‖∇L‖."""
    summary = json.loads((minimal_ratio_smoke / "summary.json").read_text())
    saved = torch.load(minimal_ratio_smoke / "final_parameters.pt", weights_only=False)
    assert saved["net_config"]["hidden"] == [16, 16] and saved["dtype"] == "float64"
    points = saved["data"]["train_points"]
    x = torch.linspace(saved["data"]["x_min"], saved["data"]["x_max"], points).unsqueeze(1).double()
    y = torch.sinc(5 * x.float()).double()
    tolerance = summary["settings"]["zero_tolerance"]
    for run in summary["runs"]:
        state = saved["runs"][run["name"]]
        assert [tuple(t.shape) for t in state.values()] == [(16, 1), (16,), (16, 16), (16,), (1, 16), (1,)]
        theta = torch.cat([t.flatten() for t in state.values()])
        mse = by_hand_mse(state, x, y)
        assert mse(theta).item() == pytest.approx(run["loss"], rel=1e-12)
        gradient = torch.autograd.functional.jacobian(mse, theta)
        assert gradient.norm().item() == pytest.approx(run["grad_norm"], rel=1e-9)
        eigenvalues = torch.linalg.eigvalsh(torch.autograd.functional.hessian(mse, theta))
        zero = eigenvalues.abs() <= tolerance * eigenvalues.abs().max()
        counts = [int(((eigenvalues > 0) & ~zero).sum()), int(zero.sum()), int(((eigenvalues < 0) & ~zero).sum())]
        assert counts == [run["positive_eigenvalues"], run["zero_eigenvalues"], run["negative_eigenvalues"]]
        assert eigenvalues[-1].item() == pytest.approx(run["max_eigenvalue"], rel=1e-9)
