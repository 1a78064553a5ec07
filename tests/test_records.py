"""What is on disk says what was computed: every figure's numbers beside it, agreeing with summary.json, and every
run's recorded settings equal to its checkpoint's and its TensorBoard run's."""

from __future__ import annotations

import json
from pathlib import Path
from statistics import mean

import pytest
import torch
import yaml

from experiments import run_all
from hw1.reporting.plots import data_path


def summary_of(smoke_suite: dict, experiment: str) -> dict:
    return json.loads((smoke_suite["out_dir"] / experiment / "version_0" / "summary.json").read_text())


def figure_data(summary: dict, stem: str) -> dict:
    (figure,) = [f for f in summary["figures"] if Path(f).stem == stem]
    return json.loads(data_path(figure).read_text())


def by_name(data: dict) -> dict[str, dict]:
    return {s["name"] if "tag" not in s else (s["name"], s["tag"]): s for s in data["series"]}


@pytest.mark.parametrize("experiment", run_all.EXPERIMENTS)
def test_every_figure_has_its_numbers_beside_it(smoke_suite: dict, experiment: str) -> None:
    summary = summary_of(smoke_suite, experiment)
    assert summary["figures"]
    for figure in summary["figures"]:
        data = json.loads(data_path(figure).read_text())
        assert data["figure"] == Path(figure).name and data["series"]
        for drawn in data["series"]:
            assert len(drawn["x"]) == len(drawn["y"]) > 0, (figure, drawn["name"])


def test_function_fits_and_curves_agree_with_the_summary(smoke_suite: dict) -> None:
    summary = summary_of(smoke_suite, "simulate_function")
    for function in summary["settings"]["functions"]:
        fits = figure_data(summary, f"fit_{function}")["series"]
        truth, predictions = fits[0], fits[1:]
        runs = [run for run in summary["runs"] if run["name"].startswith(f"{function}-")]
        assert truth["name"] == "ground truth" and len(predictions) == len(runs) == 3
        for run, drawn in zip(runs, predictions, strict=True):
            squared = [(p - t) ** 2 for p, t in zip(drawn["y"], truth["y"], strict=True)]
            assert mean(squared) == pytest.approx(run["test_loss"], rel=1e-4)
        for drawn in figure_data(summary, f"loss_{function}")["series"]:
            assert drawn["x"] == list(range(20))  # 2 epochs × 10 full-batch steps


@pytest.mark.parametrize(("experiment", "stem"), [("train_mnist", "curves"), ("random_labels", "loss_accuracy")])
def test_epoch_curves_end_at_the_final_test_numbers(smoke_suite: dict, experiment: str, stem: str) -> None:
    summary = summary_of(smoke_suite, experiment)
    curves = figure_data(summary, stem)["series"]
    for run in summary["runs"]:
        mine = [s for s in curves if len(summary["runs"]) == 1 or s["name"].startswith(f"{run['name']} (")]
        (acc,) = [s for s in mine if s["tag"] == "test/acc"]
        (loss,) = [s for s in mine if s["tag"] == "test/loss"]
        assert acc["x"][-1] == run["epochs"] and acc["y"][-1] == pytest.approx(run["test_acc"], abs=1e-6)
        assert loss["y"][-1] == pytest.approx(run["test_loss"], rel=1e-5)


def test_pca_data_holds_every_snapshot_and_the_fitted_part(smoke_suite: dict) -> None:
    summary = summary_of(smoke_suite, "optimization_pca")
    for stem, fitted in (("pca_whole_model", "whole model"), ("pca_first_layer", "first layer")):
        data = figure_data(summary, stem)
        assert data["fitted"] == fitted and len(data["explained_variance_ratio"]) == 2
        assert 0 < sum(data["explained_variance_ratio"]) <= 1 + 1e-9
        assert data["parameters"] == (summary["runs"][0]["params"] if fitted == "whole model" else 784 * 10 + 10)
        for run, drawn in zip(summary["runs"], data["series"], strict=True):
            assert drawn["name"] == run["name"] and drawn["epoch"] == [0, 3, 6]
            assert drawn["test_acc"][-1] == pytest.approx(run["test_acc"], abs=1e-6)


def test_sweep_figures_draw_the_runs_numbers(smoke_suite: dict) -> None:
    params = summary_of(smoke_suite, "params_vs_generalization")
    test = by_name(figure_data(params, "accuracy"))["test"]
    assert test["x"] == [run["params"] for run in params["runs"]] and test["y"] == [run["test_acc"] for run in params["runs"]]
    sensitivity = summary_of(smoke_suite, "flatness_sensitivity")
    drawn = by_name(figure_data(sensitivity, "loss_sensitivity"))
    assert drawn["test"]["x"] == [run["batch_size"] for run in sensitivity["runs"]]
    assert drawn["test"]["y"] == [run["test_loss"] for run in sensitivity["runs"]]
    assert drawn["‖∂softmax/∂x‖_F (Novak)"]["y"] == [run["sensitivity_jacobian"] for run in sensitivity["runs"]]
    sharpness = summary_of(smoke_suite, "sharpness")
    drawn = by_name(figure_data(sharpness, "sharpness"))
    assert drawn["ε = 0.001"]["y"] == [run["keskar_sharpness_0.001"] for run in sharpness["runs"]]
    assert drawn["ε = 0.0005"]["y"] == [run["keskar_sharpness_0.0005"] for run in sharpness["runs"]]
    assert drawn["test accuracy"]["y"] == [run["test_acc"] for run in sharpness["runs"]]
    drawn = by_name(figure_data(sharpness, "ball_sharpness"))
    assert drawn["projected ascent"]["y"] == [run["ball_sharpness"] for run in sharpness["runs"]]
    ratio = summary_of(smoke_suite, "minimal_ratio")
    for drawn in figure_data(ratio, "minimal_ratio")["series"]:
        assert drawn["x"] == [run["loss"] for run in ratio["runs"]]
        assert drawn["y"] == [run[drawn["key"]] for run in ratio["runs"]]
        assert drawn["point"] == [run["point"] for run in ratio["runs"]]
    grad = summary_of(smoke_suite, "grad_norm")
    for drawn in figure_data(grad, "grad_norm_sinc")["series"]:
        assert drawn["x"] == list(range(20)) and all(value > 0 for value in drawn["y"])


def test_interpolation_ends_are_the_two_models_on_their_own_training_set(smoke_suite: dict) -> None:
    summary = summary_of(smoke_suite, "flatness_interpolation")
    runs = {run["name"]: run for run in summary["runs"]}
    small, large, large_lr = summary["runs"]
    assert small["settings"]["data_seed"] == large["settings"]["data_seed"] == large_lr["settings"]["data_seed"]
    assert small["settings"]["init_seed"] != large["settings"]["init_seed"]
    for stem, second in (("interpolation_small_batch_to_large_batch", large),
                         ("interpolation_small_batch_to_large_lr", large_lr)):  # fmt: skip
        data = figure_data(summary, stem)
        assert data["same_training_set"] is True and data["first"] == small["checkpoint"] == runs[small["name"]]["checkpoint"]
        zero, one = data["alphas"].index(0.0), data["alphas"].index(1.0)
        for split in ("train", "test"):
            assert data[split]["loss"][zero] == pytest.approx(small[f"{split}_loss"], abs=1e-6)
            assert data[split]["loss"][one] == pytest.approx(second[f"{split}_loss"], abs=1e-6)
            assert data[split]["acc"][one] == pytest.approx(second[f"{split}_acc"], abs=1e-9)


NO_CHECKPOINT = ("minimal_ratio", "random_features")  # an ensemble outside Lightning, and closed-form fits


@pytest.mark.parametrize("experiment", [e for e in run_all.EXPERIMENTS if e not in NO_CHECKPOINT])
def test_recorded_settings_are_those_of_the_checkpoint_and_the_tensorboard_run(smoke_suite: dict, experiment: str) -> None:
    summary = summary_of(smoke_suite, experiment)
    for run in summary["runs"]:
        recorded = run["settings"]
        checkpoint = torch.load(run["checkpoint"], map_location="cpu", weights_only=False)
        trained = {**checkpoint["hyper_parameters"], **checkpoint["datamodule_hyper_parameters"]}
        assert {key: recorded[key] for key in trained} == trained
        assert checkpoint["epoch"] + 1 == run["epochs"] == recorded["max_epochs"]
        logged = yaml.safe_load((Path(run["log_dir"]) / "hparams.yaml").read_text())
        assert {key: logged[key] for key in recorded} == recorded
        assert logged["params"] == run["params"]
        for key, value in summary["settings"].items():  # the experiment-level settings hold only shared values
            assert recorded.get(key, value) == value, key


def test_sweeps_record_no_setting_their_runs_did_not_use(smoke_suite: dict) -> None:
    for experiment in ("flatness_sensitivity", "sharpness", "flatness_interpolation"):
        summary = summary_of(smoke_suite, experiment)
        assert "batch_size" not in summary["settings"]
        assert len({run["settings"]["batch_size"] for run in summary["runs"]}) > 1
    assert "lr" not in summary_of(smoke_suite, "flatness_interpolation")["settings"]
    ratio = summary_of(smoke_suite, "minimal_ratio")["settings"]
    assert not {"optimizer", "batch_size", "max_epochs", "momentum", "data_dir", "train_subset"} & set(ratio)
    pca = summary_of(smoke_suite, "optimization_pca")["runs"]
    assert [run["settings"]["init_seed"] for run in pca] == [0, 1]
    assert [run["settings"]["order_seed"] for run in pca] == [0, 1]
    assert {run["settings"]["data_seed"] for run in pca} == {0}
