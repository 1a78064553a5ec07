"""Adding an experiment is one file and its entry in experiments/suite.py: its settings, profiles, rule, report
settings and captions all live in the file, and run_all.py and the report find them there."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from experiments import random_labels, sharpness
from hw1.runs.errors import UsageError

ROOT = Path(__file__).resolve().parents[1]
TOY = '''"""Toy: do the drawn values stay at or above zero?"""

from dataclasses import dataclass

from hw1.cli.experiment import Announce, Experiment
from hw1.reporting.verdicts import Check, Expectation, FigureData, Finding, Runs
from hw1.runs.results import write_summary
from hw1.runs.settings import Settings as Shared
from hw1.runs.settings import option, positive_int
from hw1.training.fit import start_experiment

NAME = "toy"


@dataclass(frozen=True)
class Settings(Shared):
    draws: int = option("--draws", "how many values to draw", 5, type=positive_int)


PRESETS = (Settings.preset("full", draws=5), Settings.preset("quick", draws=4), Settings.preset("smoke", draws=3))


def run(settings: Settings, announce: Announce | None = None) -> dict:
    result_dir = start_experiment(NAME, settings)
    rows = [{"name": f"draw{index}", "value": float(settings.seed + index)} for index in range(settings.draws)]
    write_summary(result_dir, NAME, settings, rows, [])
    return {"rows": rows}


def judge(runs: Runs, _: FigureData) -> Finding:
    smallest = min(run["value"] for run in runs)
    return Finding(f"smallest of {len(runs)} values {smallest:g}", (Check("smallest value", smallest, 0.0),))


EXPECTATION = Expectation("Do the values stay at or above zero?", "They start at --seed and count up.",
                          "Every drawn value is at least 0.", judge, pooled=True)
EXPERIMENT = Experiment(NAME, __doc__, Settings, PRESETS, run, expectation=EXPECTATION, shown=("draws",))
'''


def copy_project(to: Path) -> Path:
    for folder in ("hw1", "callbacks", "experiments"):
        shutil.copytree(ROOT / folder, to / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", to)
    return to


def test_an_experiment_is_one_file_and_one_entry_in_the_suite(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    (project / "experiments" / "toy.py").write_text(TOY)
    suite = project / "experiments" / "suite.py"
    text = suite.read_text()
    suite.write_text(text.replace("    train_mnist,\n)", "    train_mnist,\n    toy,\n)", 1)
                     .replace("    double_descent.EXPERIMENT,\n)", "    double_descent.EXPERIMENT,\n    toy.EXPERIMENT,\n)", 1))
    assert suite.read_text().count("toy") == 2, "the suite's import list or SUITE tuple changed shape"
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(project), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(project / "experiments" / "run_all.py"), "--profile", "smoke", "--only",
                           "toy", "--accelerator", "cpu", "--seed", "2", "--out-dir", str(out)],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = (out / "report" / "report.md").read_text()
    section = report[report.index("## toy"):]
    assert "**Rule.** Every drawn value is at least 0." in section
    assert "**Verdict: supported.** smallest value 2 (≥ 0; margin +2)" in section
    assert "| draws | 3 |" in section and "| seed | 2 |" in section and "| profile | smoke |" in section
    assert "[toy](#toy) | supported |" in report
    page = (out / "report" / "index.html").read_text()
    assert "<h2 id='toy'>toy</h2>" in page and "<span class='verdict supported'>supported</span>" in page


def test_a_shown_setting_the_experiment_has_no_option_for_fails_at_construction() -> None:
    with pytest.raises(ValueError, match="hiden"):
        replace(random_labels.EXPERIMENT, shown=("hiden",))


@pytest.mark.parametrize(("profile", "message"), [
    ({"hiden": [64]}, "profile smoke sets hiden, which the settings have no option for"),
    ({"hidden": [64, 0]}, "profile smoke sets --hidden to 0: must be a positive integer"),
    ({"lr": "1e-3"}, "profile smoke sets --lr to '1e-3', where the flag gives 0.001"),
    ({"max_epochs": 2.0}, "profile smoke sets --max-epochs to 2.0"),
    ({"label_mode": "shufle"}, "profile smoke sets --label-mode to 'shufle', not one of"),
    ({"hidden": 64}, "profile smoke sets --hidden to 64, not a list"),
])  # fmt: skip
def test_a_profile_with_a_typo_or_a_value_its_flag_cannot_give_fails_at_construction(profile: dict, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"experiments.random_labels.Settings: {message}")):
        random_labels.Settings.preset("smoke", **{"net": "mlp", "max_epochs": 2, **profile})


def test_a_profile_outside_full_quick_and_smoke_fails_at_construction() -> None:
    with pytest.raises(ValueError, match="profile 'fast' is not one of full, quick, smoke"):
        random_labels.Settings.preset("fast")


def test_a_profile_whose_sub_config_refuses_its_values_fails_at_construction() -> None:
    with pytest.raises(UsageError, match="--momentum applies to sgd and rmsprop, not adam"):
        random_labels.Settings.preset("quick", optimizer="adam", momentum=0.9)


def test_a_profile_set_per_run_is_refused_as_a_flag_and_in_a_profile() -> None:
    with pytest.raises(ValueError, match="profile smoke sets batch_size, which the settings have no option for"):
        sharpness.Settings.preset("smoke", batch_size=64)
    assert sharpness.SMOKE.with_values(batch_size=16).batch.batch_size == 16  # a run's variant may set it


def test_presets_are_the_experiments_settings_one_per_profile() -> None:
    wrong = "a preset is an instance of experiments.sharpness.Settings, not its settings class experiments.random_labels"
    with pytest.raises(ValueError, match=wrong):
        replace(random_labels.EXPERIMENT, presets=(sharpness.FULL,))
    with pytest.raises(ValueError, match="two presets of one profile"):
        replace(random_labels.EXPERIMENT, presets=(random_labels.FULL, random_labels.FULL))
    assert random_labels.EXPERIMENT.profiles["quick"] is random_labels.QUICK
