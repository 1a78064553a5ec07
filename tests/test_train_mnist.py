"""Deep vs shallow on MNIST: equal-size CNNs of different depth, LeNet and the seed's CNN."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments import train_mnist
from hw1.training.nets import build_net, convnet_parameter_count, count_parameters, widths_for_budget


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_convnet_parameter_formula_matches_the_built_net(depth: int) -> None:
    channels = [7 + i for i in range(depth)]
    assert convnet_parameter_count(channels) == count_parameters(build_net("convnet", channels=channels))


def test_default_convnets_match_lenets_size_and_differ_in_depth() -> None:
    settings = train_mnist.Settings(nets=[], depths=[1, 2, 4], budget=44_426)
    chosen = train_mnist.models(settings)
    assert list(chosen) == ["convnet1", "convnet2", "convnet4"]
    for depth, (net, config) in zip([1, 2, 4], chosen.values(), strict=True):
        assert net == "convnet" and len(config["channels"]) == depth
        assert abs(count_parameters(build_net(net, **config)) - 44_426) <= 0.05 * 44_426
    assert widths_for_budget(4, 44_426, convnet_parameter_count, tolerance=0.05) == chosen["convnet4"][1]["channels"]


def test_smoke_run_trains_every_model_and_draws_one_figure(tiny_mnist: Path, tmp_path: Path) -> None:
    outcome = train_mnist.main(["--profile", "smoke", "--accelerator", "cpu", "--data-dir", str(tiny_mnist),
                                "--out-dir", str(tmp_path), "--max-epochs", "2", "--checkpoint-every", "0"])  # fmt: skip
    names = [result.name for result in outcome["results"]]
    assert names == ["lenet", "cnn", "convnet1", "convnet2", "convnet4"]
    summary = json.loads((tmp_path / "train_mnist" / "version_0" / "summary.json").read_text())
    assert [run["params"] for run in summary["runs"]][:2] == [44_426, 304_842]
    assert all(run["epochs"] == 2 and 0 <= run["test_acc"] <= 1 for run in summary["runs"])
    (figure,) = summary["figures"]
    assert Path(figure).name == "curves.png" and Path(figure).read_bytes()[:4] == b"\x89PNG"


def test_lenet_learns_real_mnist_in_one_epoch(real_mnist: Path, tmp_path: Path) -> None:
    """The seed's setting (SGD lr 0.01, momentum 0.9, batch 64); 10 epochs give about 99%, one already > 97%."""
    outcome = train_mnist.main(["--accelerator", "cpu", "--data-dir", str(real_mnist), "--out-dir", str(tmp_path),
                                "--nets", "lenet", "--depths", "--max-epochs", "1", "--checkpoint-every", "0",
                                "--seeds", "1"])  # fmt: skip
    (result,) = outcome["results"]
    assert result.test_acc > 0.97 and result.train_acc > 0.97
