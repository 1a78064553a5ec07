"""Command-line behaviour: help, profiles, and bad input as one `error:` line with exit code 2."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest
import torch

from experiments import run_all
from hw1.cli.flags import parse_settings
from hw1.runs.settings import RUN_OPTIONS, BatchSize, MnistSweep, OptimizerConfig, refusal

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "random_labels.py"
PROFILES = {name: MnistSweep.preset(name, max_epochs=epochs) for name, epochs in (("full", 50), ("quick", 5), ("smoke", 1))}


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=300)  # fmt: skip


def assert_usage_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in errors[0]


def test_profile_then_explicit_flags_override_defaults() -> None:
    assert parse_settings(MnistSweep, "x", PROFILES, argv=[]).trainer.max_epochs == 50
    assert parse_settings(MnistSweep, "x", PROFILES, argv=["--profile", "smoke"]).trainer.max_epochs == 1
    settings = parse_settings(MnistSweep, "x", PROFILES, argv=["--profile", "smoke", "--max-epochs", "3", "--lr", "0.5"])
    assert settings.trainer.max_epochs == 3 and settings.profile == "smoke" and settings.data.data_seed == settings.seed == 0
    assert settings.optim == OptimizerConfig(lr=0.5)  # --lr reaches the optimizer's sub-config under its own name
    assert settings.batch == BatchSize() and settings.batch.batch_size == 64
    with pytest.raises(FrozenInstanceError):
        settings.optim.lr = 1.0  # type: ignore[misc]
    variant = settings.with_values(batch_size=8, seed=5)
    assert (variant.batch.batch_size, settings.batch.batch_size, variant.trainer.max_epochs) == (8, 64, 3)
    assert variant.data.data_seed == 0  # the data seed was fixed when the settings were built; a repeat keeps it
    assert parse_settings(MnistSweep, "x", PROFILES, argv=["--seed", "4"]).data.data_seed == 4
    assert parse_settings(MnistSweep, "x", PROFILES, argv=["--seed", "4", "--data-seed", "9"]).data.data_seed == 9
    with pytest.raises(ValueError, match="holds no option widths"):
        settings.with_values(widths=[2])


def test_help_documents_every_shared_flag_with_its_default() -> None:
    result = cli("--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    for option in RUN_OPTIONS:
        assert option.flag in text, option.flag  # random_labels takes every shared flag
    assert ("--max-epochs MAX_EPOCHS epochs to train (with --target-loss: at most) (default: full profile: 100; quick: 150;"
            " smoke: 2)") in text  # fmt: skip
    assert "--target-loss TARGET_LOSS train until the training loss (an eval-mode pass" in text
    # each profile's default is the value that profile trains with (quick and smoke do not inherit full's schedule)
    assert "cosine decay to 0 over --max-epochs (default: full profile: cosine; quick: constant; smoke: constant)" in text
    assert "--label-fractions" in text and "--label-mode" in text


def test_unwritable_out_dir(tiny_mnist: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("keep me")
    result = cli("--profile", "smoke", "--data-dir", str(tiny_mnist), "--out-dir", str(blocker / "out"))
    assert_usage_error(result, "cannot write to", "--out-dir")
    assert blocker.read_text() == "keep me"


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present, so --accelerator gpu is valid here")
def test_gpu_asked_for_without_one(tiny_mnist: Path, tmp_path: Path) -> None:
    result = cli("--profile", "smoke", "--data-dir", str(tiny_mnist), "--out-dir", str(tmp_path), "--accelerator", "gpu")
    assert_usage_error(result, "no CUDA GPU is visible", "--accelerator cpu")
    assert not (tmp_path / "random_labels").exists()


def test_unknown_function_name() -> None:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    result = subprocess.run([sys.executable, str(ROOT / "experiments" / "simulate_function.py"), "--functions", "tan"],
                            capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert_usage_error(result, "invalid choice: 'tan'")


@pytest.mark.parametrize(
    ("experiment", "flags", "fragment"),
    [
        ("flatness_sensitivity", ["--batch-size", "32"], "--batch-size has no effect here: this experiment sweeps batch sizes"),
        ("sharpness", ["--batch-size", "32"], "use --batch-sizes"),
        ("flatness_interpolation", ["--lr", "0.1"], "use --small-lr and --large-lr"),
        ("flatness_interpolation", ["--batch-size", "8"], "use --small-batch and --large-batch"),
        ("minimal_ratio", ["--optimizer", "sgd"], "--optimizer has no effect here: it trains all its nets at once"),
        ("minimal_ratio", ["--max-epochs", "3"], "--train-steps"),
        ("minimal_ratio", ["--data-dir", "somewhere"], "on sinc, outside Lightning"),
        ("minimal_ratio", ["--steps-per-chunk", "2"], "outside Lightning"),
        ("minimal_ratio", ["--jobs", "2"], "--jobs has no effect here: it trains all its nets at once"),
        ("hessian_spectrum", ["--lr", "0.1"], "this experiment trains nothing; it analyses the checkpoints of sharpness"),
        ("simulate_function", ["--train-subset", "10"], "it does not read MNIST"),
        ("grad_norm", ["--train-subset", "10"], "pass --task mnist"),
        ("grad_norm", ["--task", "mnist", "--steps-per-epoch", "5"], "--task sinc only"),
        ("loss_surface", ["a.ckpt", "--basin-directions", "4"], "basins of a --source folder; leave out the checkpoints"),
    ],
)
def test_a_shared_flag_an_experiment_does_not_use_is_refused(
    experiment: str, flags: list[str], fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    module = importlib.import_module(f"experiments.{experiment}")
    with pytest.raises(SystemExit) as stopped:
        module.main(["--profile", "smoke", "--out-dir", str(tmp_path), *flags])
    assert stopped.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and fragment in errors[0]
    assert not any(tmp_path.iterdir())


def test_unused_flags_are_not_offered_in_help(capsys: pytest.CaptureFixture) -> None:
    from experiments import flatness_sensitivity, minimal_ratio

    for module, absent, present in ((flatness_sensitivity, ["--batch-size BATCH_SIZE"], ["--batch-sizes", "--lr"]),
                                    (minimal_ratio, ["--optimizer {", "--batch-size BATCH_SIZE", "--max-epochs MAX_EPOCHS"],
                                     ["--lr LR", "--seed SEED"])):  # fmt: skip
        with pytest.raises(SystemExit):
            module.main(["--help"])
        text = capsys.readouterr().out
        assert all(flag not in text for flag in absent) and all(flag in text for flag in present)


@pytest.mark.parametrize("experiment", [*run_all.EXPERIMENTS, "run_all"])
def test_every_experiment_prints_its_help(experiment: str, capsys: pytest.CaptureFixture) -> None:
    """(`simulate_function.py --help` once crashed on the "%" in "within 1%".)"""
    with pytest.raises(SystemExit) as stopped:
        importlib.import_module(f"experiments.{experiment}").main(["--help"])
    assert stopped.value.code == 0 and "--seed" in capsys.readouterr().out


SAMPLE_VALUES = {"devices": "1", "strategy": "auto", "precision": "32-true", "optimizer": "sgd", "lr_schedule": "constant",
                 "name": "x", "data_dir": "somewhere"}  # fmt: skip


@pytest.mark.parametrize("experiment", run_all.EXPERIMENTS)
def test_an_experiment_takes_the_groups_it_composes_and_refuses_every_other_shared_flag(experiment: str) -> None:
    record = run_all.experiment_record(experiment)
    taken = {option.dest for option in record.settings.options()}
    for profile in ("full", "quick", "smoke"):  # a profile sets only options the experiment takes
        assert record.parse(["--profile", profile]).profile == profile
    for option in RUN_OPTIONS:
        if option.dest in taken:
            continue
        words = [option.flag] if option.switch else [option.flag, SAMPLE_VALUES.get(option.dest, "1")]
        with pytest.raises(SystemExit) as stopped:
            record.parse(["--profile", "smoke", *words])
        assert stopped.value.code == 2, option.flag
        assert refusal(record.settings, option.dest), option.flag
    assert record.expectation is not None and record.name == experiment
