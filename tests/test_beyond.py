"""Beyond the homework: the Hessian spectrum, loss-surface and double-descent experiments on real checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from experiments import hessian_spectrum, loss_surface
from hw1.analysis.flat_model import FlatModel
from hw1.analysis.surface import filter_normalized_direction, plane_through
from hw1.reporting.plots import data_path
from hw1.training.data import MNISTDataModule
from hw1.training.nets import build_net


def summary_of(out_dir: Path, experiment: str) -> dict:
    return json.loads((out_dir / experiment / "version_0" / "summary.json").read_text())


def figure_data(summary: dict, prefix: str) -> dict:
    (figure,) = [f for f in summary["figures"] if Path(f).stem.startswith(prefix)]
    return json.loads(data_path(figure).read_text())


@pytest.mark.parametrize("net", ["lenet", "mlp"])
def test_filter_normalisation_gives_each_filter_the_norm_of_the_models(net: str) -> None:
    model = build_net(net)
    direction = filter_normalized_direction(model, torch.Generator().manual_seed(0))
    parts = FlatModel.of(model).unflatten(direction)
    for name, weights in model.named_parameters():
        if weights.dim() == 1:
            assert bool((parts[name] == 0).all()), name  # biases are not moved
        else:
            filters, own = parts[name].flatten(1), weights.detach().flatten(1)
            assert torch.allclose(filters.norm(dim=1), own.norm(dim=1), rtol=1e-5), name
            assert not torch.allclose(filters, own)


def test_the_plane_through_three_points_holds_them_at_their_coordinates() -> None:
    generator = torch.Generator().manual_seed(1)
    minima = [torch.randn(50, generator=generator, dtype=torch.float64) for _ in range(3)]
    plane = plane_through(minima, ["a", "b", "c"], torch.zeros(2, 50, dtype=torch.float64))
    assert plane.points["a"] == (0.0, 0.0) and plane.points["b"] == pytest.approx((1.0, 0.0), abs=1e-12)
    assert float(plane.first @ plane.second) == pytest.approx(0.0, abs=1e-9)
    assert plane.first.norm() == pytest.approx(float(plane.second.norm()))
    for name, theta in zip("abc", minima, strict=True):
        a, b = plane.points[name]
        assert torch.allclose(plane.at(torch.tensor([a]), torch.tensor([b]))[0], theta, atol=1e-10)


def test_the_surface_is_each_checkpoints_own_loss_at_its_grid_point(smoke_suite: dict, tiny_mnist: Path,
                                                                      tmp_path: Path) -> None:  # fmt: skip
    runs = {run["role"]: run for run in summary_of(smoke_suite["out_dir"], "flatness_interpolation")["runs"]}
    small, large = runs["small_batch"], runs["large_batch"]
    flags = ["--profile", "smoke", "--accelerator", "cpu", "--data-dir", str(tiny_mnist), "--out-dir", str(tmp_path),
             "--points", "5", "--train-samples", "100000"]  # fmt: skip
    around = loss_surface.main([small["checkpoint"], *flags])
    data = json.loads(data_path(around["figures"][0]).read_text())
    grids = {s["name"]: s["z"] for s in data["series"]}
    assert data["series"][0]["x"] == [-1.0, -0.5, 0.0, 0.5, 1.0] and data["samples"] == {"train": 256, "test": 100}
    assert grids["train loss"][2][2] == pytest.approx(small["train_loss"], rel=1e-5)
    assert grids["test loss"][2][2] == pytest.approx(small["test_loss"], rel=1e-5)
    assert grids["test acc"][2][2] == pytest.approx(small["test_acc"], abs=1e-9)
    assert grids["train loss"][0][0] != grids["train loss"][2][2]
    through = loss_surface.main([small["checkpoint"], large["checkpoint"], *flags, "--margin", "0.5"])
    data = json.loads(data_path(through["figures"][0]).read_text())
    grids = {s["name"]: s["z"] for s in data["series"]}
    a, b = data["series"][0]["x"], data["series"][0]["y"]
    assert a == pytest.approx([-0.5, 0.0, 0.5, 1.0, 1.5]) and 0.0 in b
    row = b.index(0.0)
    assert grids["test loss"][row][1] == pytest.approx(small["test_loss"], rel=1e-5)
    assert grids["test loss"][row][3] == pytest.approx(large["test_loss"], rel=1e-4)  # both trained on one training set
    assert grids["train loss"][row][3] == pytest.approx(large["train_loss"], rel=1e-4)


def test_the_hessian_spectrum_of_the_suites_sharpness_minima(smoke_suite: dict) -> None:
    out_dir = smoke_suite["out_dir"]
    sharpness_runs = summary_of(out_dir, "sharpness")["runs"]
    summary = summary_of(out_dir, "hessian_spectrum")
    assert [run["source_run"] for run in summary["runs"]] == [run["name"] for run in sharpness_runs]
    for run in summary["runs"]:
        assert run["hessian_samples"] == 64 and len(run["lambda_top"]) == 3
        assert run["lambda_top"] == sorted(run["lambda_top"], reverse=True) and run["lambda_1"] == run["lambda_top"][0]
    density = figure_data(summary, "density")
    for drawn in density["series"]:
        assert float(torch.trapezoid(torch.tensor(drawn["y"]), torch.tensor(drawn["x"]))) == pytest.approx(1.0, abs=1e-3)
        assert min(drawn["x"]) < min(min(n) for n in drawn["nodes"]) and max(drawn["x"]) > max(max(n) for n in drawn["nodes"])
        assert all(sum(w) == pytest.approx(1.0) for w in drawn["weights"])
    eigenvalues = figure_data(summary, "eigenvalues")
    (top,) = [s for s in eigenvalues["series"] if s["name"] == "λ1"]
    assert top["x"] == [run["batch_size"] for run in summary["runs"]] and top["y"] == [r["lambda_1"] for r in summary["runs"]]


def test_the_hessian_of_a_minimum_is_taken_over_its_own_training_set(smoke_suite: dict, tiny_mnist: Path,
                                                                     tmp_path: Path) -> None:  # fmt: skip
    """With --hessian-samples above the training set's size, the Hessian is the one of the run's whole training set:
    its 256 images, and the loss of the run's own eval pass."""
    source = smoke_suite["out_dir"] / "sharpness" / "version_0"
    flags = ["--profile", "smoke", "--accelerator", "cpu", "--data-dir", str(tiny_mnist), "--out-dir", str(tmp_path),
             "--source", str(source), "--hessian-samples", "100000", "--lanczos-steps", "3", "--slq-runs", "1",
             "--probes", "1"]  # fmt: skip
    outcome = hessian_spectrum.main(flags)
    first = outcome["rows"][0]
    datamodule = MNISTDataModule(str(tiny_mnist), train_subset=first["settings"]["train_subset"],
                                 data_seed=first["settings"]["data_seed"])  # fmt: skip
    datamodule.setup()
    assert first["hessian_samples"] == len(datamodule.train[1]) == 256
    assert first["hessian_loss"] == pytest.approx(first["train_loss"], rel=1e-5)


@pytest.mark.parametrize(("experiment", "flags", "fragment"), [
    ("loss_surface", ["a.ckpt", "b.ckpt", "c.ckpt", "d.ckpt"], "4 checkpoints given; pass one, two or three"),
    ("loss_surface", ["--points", "40"], "--points 40: pass an odd number"),
    ("loss_surface", ["missing.ckpt"], "checkpoint missing.ckpt does not exist"),
    ("loss_surface", ["--lr", "0.1"], "--lr has no effect here: this experiment trains nothing"),
    ("loss_surface", [], "no finished flatness_interpolation result in"),
    ("hessian_spectrum", [], "no finished sharpness result in"),
    ("hessian_spectrum", ["--max-epochs", "3"], "--max-epochs has no effect here"),
    ("hessian_spectrum", ["--top-k", "0"], "--top-k: must be a positive integer"),
])  # fmt: skip
def test_bad_input_to_the_analyses_is_one_line_and_creates_nothing(
    experiment: str, flags: list[str], fragment: str, tiny_mnist: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from hw1.cli.flags import run_cli

    module = hessian_spectrum if experiment == "hessian_spectrum" else loss_surface
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(SystemExit) as stopped:
        run_cli(lambda: module.main([*flags, "--profile", "smoke", "--data-dir", str(tiny_mnist), "--out-dir", str(out)]))
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert stopped.value.code == 2 and len(errors) == 1 and fragment in errors[0], errors
    assert not any(out.iterdir())


def test_a_corrupt_or_foreign_checkpoint_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    from hw1.runs.errors import UsageError

    broken = tmp_path / "broken.ckpt"
    broken.write_bytes(b"not a checkpoint")
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    for path, message in ((broken, "is unreadable"), (foreign, "is not a checkpoint of this project's Classifier")):
        with pytest.raises(UsageError, match=message):
            loss_surface.main([str(path), "--out-dir", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()


def test_the_squared_error_classifier_loss_is_the_mse_to_one_hot_labels() -> None:
    from hw1.training.modules import Classifier

    module = Classifier("mlp", {"hidden": [8]}, loss_function="mse")
    outputs, targets = torch.randn(5, 10), torch.tensor([0, 3, 9, 3, 1])
    one_hot = torch.zeros(5, 10)
    one_hot[torch.arange(5), targets] = 1
    assert float(module.loss(outputs, targets)) == pytest.approx(float(((outputs - one_hot) ** 2).mean()))
    cross_entropy = torch.nn.functional.cross_entropy(outputs, targets)
    assert float(Classifier("mlp").loss(outputs, targets)) == pytest.approx(float(cross_entropy))
