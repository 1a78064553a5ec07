"""What a person sees: one line per finished run, no start-up banners or third-party warnings unless --verbose, bars
only on a terminal, each experiment's time in the report, one HParams table for the whole log folder served by a real
TensorBoard, and the names users load importable from `hw1`."""

from __future__ import annotations

import fcntl
import json
import os
import re
import struct
import subprocess
import sys
import termios
import time
import urllib.request
from pathlib import Path

import pytest
import torch

import hw1
from experiments import run_all
from hw1.cli.sweeps import concurrent_jobs
from hw1.runs.console import run_line
from hw1.runs.settings import SweepConfig

ROOT = Path(__file__).resolve().parents[1]
CLOSING_LINES = 4  # run_all's: "all N experiments done …", the report's page, its markdown, the TensorBoard command
BANNERS = ("GPU available", "TPU available", "litlogger", "LitLogger", "Trainable params", "`Trainer.fit` stopped")


def run_lines(summary: dict, experiment: str) -> int:
    """How many lines an experiment prints in a suite besides its header: one per run (summary row), and for
    loss_surface, whose rows are the minima it reads, one per surface (figure `surface_*`)."""
    if experiment == "loss_surface":
        return sum(Path(figure).stem.startswith("surface_") for figure in summary["figures"])
    return len(summary["runs"])


def test_the_suite_prints_one_line_per_run_and_a_header_per_experiment(smoke_suite: dict) -> None:
    lines = smoke_suite["output"].splitlines()
    summaries = {e: json.loads((smoke_suite["out_dir"] / e / "version_0" / "summary.json").read_text())
                 for e in run_all.EXPERIMENTS}  # fmt: skip
    runs = sum(run_lines(summary, experiment) for experiment, summary in summaries.items())
    # a flag given to run_all that an experiment does not take is named once, under its header
    notes = [line for line in lines if line.startswith("[experiment ") and line.endswith(" --data-dir; not passed on]")]
    assert len(lines) == runs + len(run_all.EXPERIMENTS) + len(notes) + CLOSING_LINES
    headers = [line for line in lines if line.startswith("[experiment ") and line not in notes]
    assert [re.sub(r", \d\d:\d\d:\d\d elapsed\]$", "", line) for line in headers] == [
        f"[experiment {i}/{len(run_all.EXPERIMENTS)} {experiment}" for i, experiment in enumerate(run_all.EXPERIMENTS, 1)]
    for experiment, summary in summaries.items():
        block = [line for line in lines[lines.index(headers[run_all.EXPERIMENTS.index(experiment)]) + 1:]
                 if line not in notes][:run_lines(summary, experiment)]  # fmt: skip
        if experiment != "loss_surface":
            assert [line.split(": ", 1)[0] for line in block] == [row["name"] for row in summary["runs"]], experiment
    trained = next(line for line in lines if line.startswith("mlp-shuffle: "))
    row = summaries["random_labels"]["runs"][0]
    assert trained == run_line(row) and f"{row['steps']} steps" in trained and f"{row['epochs']} epochs" in trained
    assert not any(banner in line for line in lines for banner in BANNERS)


def command_output(command: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    """Exit code and stdout with stderr of a command whose stdout is a pipe (not a terminal)."""
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    return done.returncode, done.stdout + done.stderr


def test_quiet_by_default_and_verbose_brings_everything_back(tiny_mnist: Path, tmp_path: Path) -> None:
    """Banners, model summaries, evaluation bars and the filtered third-party warnings (LeafSpec from every fit, torch.jit
    from sharpness's Hessian products) appear only with --verbose."""
    flags = ["--profile", "smoke", "--accelerator", "cpu", "--data-dir", str(tiny_mnist)]
    code, quiet = command_output([sys.executable, "experiments/run_all.py", "--only", "random_labels", "sharpness", *flags,
                                  "--out-dir", str(tmp_path / "quiet")])  # fmt: skip
    assert code == 0
    runs = [json.loads((tmp_path / "quiet" / e / "version_0" / "summary.json").read_text())["runs"]
            for e in ("random_labels", "sharpness")]  # fmt: skip
    assert len(quiet.splitlines()) == sum(map(len, runs)) + 2 + CLOSING_LINES, quiet
    assert not any(word in quiet for word in (*BANNERS, "Warning", "deprecated", "Epoch 0", "Validation")), quiet
    code, verbose = command_output([sys.executable, "experiments/sharpness.py", *flags, "--out-dir", str(tmp_path / "loud"),
                                    "--batch-sizes", "64", "--verbose"])  # fmt: skip
    assert code == 0
    for word in ("GPU available: False", "litlogger", "Trainable params", "isinstance(treespec, LeafSpec)` is deprecated",
                 "`torch.jit.script` is deprecated", "Validation DataLoader 0", "bs64: Keskar sharpness "):
        assert word in verbose, word


def terminal_output(command: list[str]) -> str:
    """What a command writes to a terminal: its stdout and stderr are a pseudo-terminal, read until it exits."""
    main, child = os.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))  # 40 rows of 160 columns, as a window has
    process = subprocess.Popen(command, stdout=child, stderr=child, cwd=ROOT)
    os.close(child)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO: the terminal closed with the process
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    assert process.wait(timeout=600) == 0
    return b"".join(chunks).decode(errors="replace")


def test_a_terminal_shows_the_run_in_progress_and_run_all_one_bar_for_the_suite(tiny_mnist: Path, tmp_path: Path) -> None:
    flags = ["--profile", "smoke", "--accelerator", "cpu", "--data-dir", str(tiny_mnist), "--out-dir", str(tmp_path)]
    alone = terminal_output([sys.executable, "experiments/random_labels.py", *flags])
    assert "Epoch 1" in alone and "step=" in alone and "mlp-shuffle: 2 epochs, 8 steps" in alone
    assert "Validation" not in alone and not any(banner in alone for banner in BANNERS)
    suite = terminal_output([sys.executable, "experiments/run_all.py", "--only", "random_labels", *flags])
    assert "1/1 experiments |" in suite and "elapsed, about" in suite and "mlp-shuffle: 2 epochs" in suite
    assert "Epoch 0" not in suite  # the suite's bar, not the run's


def test_the_report_shows_each_experiments_time(smoke_suite: dict) -> None:
    markdown = smoke_suite["markdown"].read_text()
    table = json.loads((smoke_suite["out_dir"] / "report" / "summary.json").read_text())
    assert [row["experiment"] for row in table["experiments"]] == list(run_all.EXPERIMENTS)
    assert table["wall_time"].startswith("00:")
    for row in table["experiments"]:
        summary = json.loads((smoke_suite["out_dir"] / row["experiment"] / "version_0" / "summary.json").read_text())
        assert summary["timing"] == {"seconds": row["seconds"], "runs": len(summary["runs"]), "jobs": row["jobs"]}
        assert row["seconds"] > 0 and row["jobs"] == 1  # smoke: one run at a time
        shown = f"{row['seconds']:.1f} s" if row["seconds"] < 60 else "min"
        assert re.search(rf"\| \[{row['experiment']}\]\(#{row['experiment']}\) \| {row['runs']} \| 1 \| [^|]*{shown}", markdown)
    for run in json.loads((smoke_suite["out_dir"] / "sharpness" / "version_0" / "summary.json").read_text())["runs"]:
        assert run["threads"] == torch.get_num_threads() and run["seconds"] > 0 and run["steps"] > 0


def post_json(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_tensorboard_shows_every_experiments_settings_in_one_hparams_table(smoke_suite: dict, tmp_path: Path) -> None:
    """A real TensorBoard server over the suite's whole log folder: its HParams endpoints list every run that wrote a
    session, with the union of the experiments' settings and their final numbers."""
    out_dir = smoke_suite["out_dir"]
    sessions = sorted(str(path.parent.relative_to(out_dir)) for path in out_dir.glob("*/version_0/*/events.out.tfevents.*")
                      if b"_hparams_/session_start_info" in path.read_bytes())  # fmt: skip
    log = open(tmp_path / "tensorboard.log", "w")
    server = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(out_dir), "--host", "127.0.0.1",
                               "--port", "0", "--reload_interval", "1"], stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (found := re.search(r"http://127\.0\.0\.1:(\d+)/", (tmp_path / "tensorboard.log").read_text())):
            assert time.monotonic() < deadline and server.poll() is None, (tmp_path / "tensorboard.log").read_text()
            time.sleep(0.5)
        base = f"http://127.0.0.1:{found.group(1)}/data/plugin/hparams"
        query = {"experimentName": "", "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE",
                 "STATUS_RUNNING"], "colParams": [], "startIndex": 0, "sliceSize": 1000}  # fmt: skip
        while (groups := post_json(f"{base}/session_groups", query)).get("totalSize", 0) < len(sessions):
            assert time.monotonic() < deadline, f"{groups.get('totalSize')} of {len(sessions)} sessions loaded"
            time.sleep(1)
        experiment = post_json(f"{base}/experiment", {"experimentName": ""})
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    assert sorted(group["name"] for group in groups["sessionGroups"]) == sessions
    columns = {info["name"] for info in experiment["hparamInfos"]}
    # minimal_ratio's, the MNIST sweeps' (batch_size was missing when one sweep's summary stood for all), and the
    # distinguishing settings of params_vs_generalization (width), train_mnist (model) and flatness_interpolation (role)
    assert {"train_steps", "gradnorm_lr", "batch_size", "label_mode", "width", "role", "lr", "optimizer"} <= columns
    metrics = {info["name"]["tag"] for info in experiment["metricInfos"]}
    assert {"hparams/test_acc", "hparams/minimal_ratio_sampled", "hparams/keskar_sharpness_0.001", "hparams/lambda_1"} <= metrics


def test_run_line_says_how_far_a_run_trained_and_why_it_stopped() -> None:
    row = {"name": "bs64", "epochs": 12, "steps": 1200, "seconds": 75.2, "threads": 1, "params": 101770,
           "train_loss": 0.00991, "train_acc": 1.0, "test_loss": 0.41, "test_acc": 0.9012, "target_loss": 0.01,
           "target_reached": True, "target_epoch": 12, "stopped_by": "target"}  # fmt: skip
    assert run_line(row) == ("bs64: 12 epochs, 1,200 steps, target loss 0.01 reached at epoch 12, 1 min 15 s on 1 "
                             "thread; 101,770 params, train loss 0.00991 acc 1.0000, test loss 0.41 acc 0.9012")  # fmt: skip
    short = {**row, "target_reached": False, "target_epoch": None, "stopped_by": "plateau", "train_acc": None,
             "test_acc": None, "threads": 2, "seconds": 3.04}  # fmt: skip
    assert ", target loss 0.01 not reached (stopped by plateau), 3.0 s on 2 threads; " in run_line(short)
    assert "train loss 0.00991, test loss 0.41" in run_line(short)
    assert ", no target, " in run_line({**row, "target_loss": None, "target_reached": None})


def test_jobs_auto_trains_a_run_per_two_threads_on_a_cpu_and_one_at_a_time_in_smoke(monkeypatch: pytest.MonkeyPatch) -> None:
    auto = SweepConfig(jobs="auto")
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    assert concurrent_jobs(auto, "quick", "cpu", 9) == 1  # this machine's two cores: one process with both threads
    monkeypatch.setattr(torch, "get_num_threads", lambda: 16)
    assert [concurrent_jobs(auto, "quick", "cpu", runs) for runs in (9, 3, 0)] == [8, 3, 1]
    assert concurrent_jobs(auto, "smoke", "cpu", 9) == 1
    assert concurrent_jobs(SweepConfig(jobs=2), "quick", "cpu", 9) == 2
    assert concurrent_jobs(SweepConfig(jobs=8), "quick", "cpu", 3) == 3
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert concurrent_jobs(auto, "quick", "auto", 9) == 1  # one GPU: unmeasured


def test_what_users_load_is_importable_from_hw1() -> None:
    from callbacks.weights import WeightRecorder
    from hw1.training.modules import Classifier

    assert hw1.Classifier is Classifier and hw1.WeightRecorder is WeightRecorder
    assert sorted(hw1.__all__) == sorted(hw1.EXPORTS) and all(getattr(hw1, name) for name in hw1.__all__)
    with pytest.raises(AttributeError, match="no attribute 'Classifer'"):
        _ = hw1.Classifer
    assert "from hw1 import Classifier" in (ROOT / "README.md").read_text()
