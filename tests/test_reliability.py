"""Reliability: corrupt checkpoints, multi-run resume, bad input at the command line, and DDP on the CPU."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
from torch.utils.tensorboard import SummaryWriter

from experiments import minimal_ratio, optimization_pca, random_labels
from hw1.reporting.logs import epoch_curves, read_scalars
from hw1.runs.files import write_text_atomically
from hw1.training.fit import wait_for_a_later_event_file_name

ROOT = Path(__file__).resolve().parents[1]


def script(name: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, str(ROOT / "experiments" / f"{name}.py"), *args], capture_output=True,
                          text=True, env=env, timeout=600)  # fmt: skip


def one_error_line(result: subprocess.CompletedProcess, fragment: str) -> None:
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and fragment in errors[0], result.stderr


def test_a_corrupt_last_checkpoint_is_reported_and_kept(tiny_mnist: Path, tmp_path: Path) -> None:
    flags = ["--profile", "smoke", "--accelerator", "cpu", "--data-dir", str(tiny_mnist), "--out-dir", str(tmp_path)]
    assert script("random_labels", *flags).returncode == 0
    last = tmp_path / "random_labels" / "version_0" / "mlp-shuffle" / "checkpoints" / "last.ckpt"
    damaged = last.read_bytes()[:2000]
    last.write_bytes(damaged)
    one_error_line(script("random_labels", *flags, "--resume", "--max-epochs", "3"), "is unreadable")
    assert last.read_bytes() == damaged


def test_interpolating_two_architectures_is_refused(tiny_mnist: Path, tmp_path: Path) -> None:
    base = ["--profile", "smoke", "--accelerator", "cpu", "--data-dir", str(tiny_mnist), "--out-dir", str(tmp_path)]
    assert script("random_labels", *base, "--hidden", "16").returncode == 0
    assert script("random_labels", *base, "--hidden", "32", "--label-fractions", "0").returncode == 0
    first = tmp_path / "random_labels" / "version_0" / "mlp-shuffle" / "checkpoints" / "last.ckpt"
    second = tmp_path / "random_labels" / "version_1" / "mlp-true" / "checkpoints" / "last.ckpt"
    out = tmp_path / "ab.png"
    one_error_line(script("interpolate", str(first), str(second), "--out", str(out), "--data-dir", str(tiny_mnist)),
                   "one architecture")  # fmt: skip
    assert not out.exists()


def test_a_truncated_data_file_is_one_line(tiny_mnist: Path, tmp_path: Path) -> None:
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for file in (tiny_mnist / "MNIST" / "raw").iterdir():
        data = file.read_bytes()
        (raw / file.name).write_bytes(data[: len(data) // 2] if file.name.startswith("train-images") else data)
    result = script("random_labels", "--profile", "smoke", "--accelerator", "cpu", "--data-dir", str(tmp_path / "data"),
                    "--out-dir", str(tmp_path / "out"))  # fmt: skip
    one_error_line(result, "train-images-idx3-ubyte.gz")


def test_multi_run_resume_skips_finished_runs(tiny_mnist: Path, tmp_path: Path) -> None:
    flags = ["--profile", "smoke", "--accelerator", "cpu", "--data-dir", str(tiny_mnist), "--out-dir", str(tmp_path),
             "--runs", "2"]  # fmt: skip
    optimization_pca.main(flags)
    finished = tmp_path / "optimization_pca" / "version_0" / "seed0" / "checkpoints" / "last.ckpt"
    stamp = finished.stat().st_mtime_ns
    resumed = optimization_pca.main([*flags, "--resume"])
    assert finished.stat().st_mtime_ns == stamp  # nothing retrained, nothing rewritten
    assert [Path(r.log_dir).parent.name for r in resumed["results"]] == ["version_0", "version_0"]
    longer = optimization_pca.main([*flags, "--resume", "--max-epochs", "9"])
    assert all(r.epochs == 9 for r in longer["results"])
    assert epoch_curves(longer["results"][1].log_dir, ["test/acc"])["test/acc"][0] == list(range(1, 10))


def test_ddp_on_two_cpu_processes(tiny_mnist: Path, tmp_path: Path) -> None:
    """gloo DDP: one version folder written by rank 0; the logged test accuracy is that of the whole test set; three
    optimizer steps per Lightning step give the numbers of one (gradients reduced at every step)."""
    runs = {}
    for k in ("3", "1"):
        out = tmp_path / k
        result = script("random_labels", "--profile", "smoke", "--accelerator", "cpu", "--strategy", "ddp", "--devices",
                        "2", "--data-dir", str(tiny_mnist), "--out-dir", str(out), "--max-epochs", "2", "--batch-size",
                        "16", "--steps-per-chunk", k)  # fmt: skip
        assert result.returncode == 0, result.stderr[-2000:]
        assert sorted(p.name for p in (out / "random_labels").iterdir()) == ["version_0"]
        summary = json.loads((out / "random_labels" / "version_0" / "summary.json").read_text())
        (runs[k],) = summary["runs"]
        curves = epoch_curves(runs[k]["log_dir"], ["test/acc", "test/loss"])
        assert curves["test/acc"][0] == [1, 2]
        assert abs(curves["test/acc"][1][-1] - runs[k]["test_acc"]) < 1e-6
        assert abs(curves["test/loss"][1][-1] - runs[k]["test_loss"]) < 1e-4
        assert sorted(read_scalars(runs[k]["log_dir"])["train/loss_step"]) == list(range(2 * 8))  # 256/16/2 a rank
    for key in ("train_loss", "test_loss", "test_acc"):
        assert runs["3"][key] == pytest.approx(runs["1"][key], abs=1e-6), key


def test_every_callback_under_ddp(tiny_mnist: Path, tmp_path: Path) -> None:
    """Weights, gradient norms, sensitivity, step losses and checkpoints under 2-process gloo DDP: rank 0 writes."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    result = subprocess.run([sys.executable, str(ROOT / "tests" / "helpers" / "ddp_every_callback.py"), str(tiny_mnist),
                             str(tmp_path)], capture_output=True, text=True, env=env, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    reports = [json.loads((tmp_path / f"result-rank{rank}.json").read_text()) for rank in (0, 1)]
    assert len(reports) == 2 and reports[0]["log_dir"] == reports[1]["log_dir"]  # both ranks, one run folder
    log_dir = Path(reports[0]["log_dir"])
    assert sorted(p.name for p in log_dir.parent.parent.iterdir()) == ["version_0"]
    assert sorted(p.name for p in (log_dir / "weights").iterdir()) == [f"epoch={e:03d}.pt" for e in range(4)]
    scalars = read_scalars(log_dir)
    assert sorted(scalars["train/grad_norm"]) == sorted(scalars["train/loss_step"]) == list(range(3 * 5))  # 150/32/2
    assert len(scalars["sensitivity/jacobian"]) == 3 and len(scalars["sensitivity/loss_gradient"]) == 3
    assert epoch_curves(log_dir, ["test/acc"])["test/acc"][1][-1] == pytest.approx(reports[0]["test_acc"], abs=1e-6)
    assert (log_dir / "checkpoints" / "last.ckpt").is_file()


def test_kills_at_random_points_and_during_a_checkpoint_write(tiny_mnist: Path, tmp_path: Path) -> None:
    """SIGKILL mid-epoch at random moments and while a checkpoint is being written, resume after each: every
    checkpoint on disk stays readable and the final numbers equal those of an uninterrupted run."""
    flags = ["--profile", "smoke", "--accelerator", "cpu", "--data-dir", str(tiny_mnist), "--hidden", "1024",
             "--max-epochs", "10", "--batch-size", "16", "--deterministic", "--checkpoint-every", "1"]  # fmt: skip
    killed_dir = tmp_path / "killed"
    checkpoints = killed_dir / "random_labels" / "version_0" / "mlp-shuffle" / "checkpoints"
    command = [sys.executable, str(ROOT / "experiments" / "random_labels.py"), *flags, "--out-dir", str(killed_dir)]
    pick = random.Random(0)
    caught_writing = False
    for attempt in range(4):
        process = subprocess.Popen(command + (["--resume"] if attempt else []), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)  # fmt: skip
        deadline = time.monotonic() + (120 if attempt == 0 else 8 + 4 * pick.random())
        while process.poll() is None and time.monotonic() < deadline:
            if attempt == 0 and any(checkpoints.glob(".*.partial")):
                caught_writing = True
                break
            time.sleep(0.0005 if attempt == 0 else 0.05)
        process.send_signal(signal.SIGKILL)
        process.wait()
        for checkpoint in checkpoints.glob("*.ckpt"):
            torch.load(checkpoint, map_location="cpu", weights_only=False)  # raises if truncated
    assert caught_writing, "never saw a checkpoint being written"
    resumed = random_labels.main([*flags, "--out-dir", str(killed_dir), "--resume"])["result"]
    straight = random_labels.main([*flags, "--out-dir", str(tmp_path / "straight")])["result"]
    curves = epoch_curves(resumed.log_dir, ["test/loss", "train/loss_mean"])
    reference = epoch_curves(straight.log_dir, ["test/loss", "train/loss_mean"])
    for tag in curves:
        assert curves[tag][0] == list(range(1, 11))
        assert curves[tag][1] == pytest.approx(reference[tag][1], abs=1e-6)
    assert (resumed.train_loss, resumed.test_loss, resumed.test_acc) == pytest.approx(
        (straight.train_loss, straight.test_loss, straight.test_acc), abs=1e-6
    )


def test_a_process_ended_right_after_its_checkpoint_keeps_every_epochs_points(tiny_mnist: Path, tmp_path: Path) -> None:
    """last.ckpt is written after the epoch's train/*_mean and test/* points are flushed to TensorBoard: a process
    ended the instant the epoch-2 checkpoint is on disk, then resumed, has a point for every epoch."""
    from hw1.runs.settings import MnistSweep
    from hw1.training.builders import sweep_classifier
    from hw1.training.fit import train_run

    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    ended = subprocess.run([sys.executable, str(ROOT / "tests" / "helpers" / "exit_after_checkpoint.py"), str(tiny_mnist),
                            str(tmp_path), "2"], capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert ended.returncode == 9, ended.stderr[-2000:]
    run_dir = tmp_path / "exit" / "version_0" / "mlp"
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)["epoch"] == 2
    settings = MnistSweep().with_values(accelerator="cpu", data_dir=str(tiny_mnist), out_dir=str(tmp_path), max_epochs=5,
                                        batch_size=32, optimizer="adam", lr=1e-3, data_seed=0, checkpoint_every=0,
                                        resume=True)  # fmt: skip
    train_run(run_dir.parent, "mlp", *sweep_classifier(settings, "mlp", {"hidden": [32]}), settings)
    curves = epoch_curves(run_dir, ["train/loss_mean", "train/acc_mean", "test/loss", "test/acc"])
    assert all(epochs == [1, 2, 3, 4, 5] for epochs, _ in curves.values()), curves


def test_minimal_ratio_runs_resume_where_they_stopped(tmp_path: Path) -> None:
    flags = ["--profile", "smoke", "--accelerator", "cpu", "--train-steps", "1500", "--gradnorm-steps", "500"]
    progress = tmp_path / "killed" / "minimal_ratio" / "version_0" / "progress.pt"
    command = [sys.executable, str(ROOT / "experiments" / "minimal_ratio.py"), *flags, "--out-dir", str(tmp_path / "killed")]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while process.poll() is None and time.monotonic() < deadline and not progress.is_file():
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    saved = torch.load(progress, weights_only=False)
    assert saved["phase"] == "train" and 0 < saved["step"] < 1500
    resumed = minimal_ratio.main([*flags, "--out-dir", str(tmp_path / "killed"), "--resume"])["runs"]
    straight = minimal_ratio.main([*flags, "--out-dir", str(tmp_path / "straight")])["runs"]
    assert resumed == straight
    one_error_line(script("minimal_ratio", *flags, "--out-dir", str(tmp_path / "killed"), "--resume", "--runs", "4"),
                   "made with other runs")  # fmt: skip


def test_concurrent_invocations_get_their_own_result_folders(tiny_mnist: Path, tmp_path: Path) -> None:
    """Two invocations started at once claim two folders; a later one changes no byte of theirs."""
    flags = ["--profile", "smoke", "--accelerator", "cpu", "--data-dir", str(tiny_mnist), "--out-dir", str(tmp_path)]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, str(ROOT / "experiments" / "random_labels.py"), *flags]
    processes = [subprocess.Popen([*command, "--seed", seed], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
                 for seed in ("1", "2")]  # fmt: skip
    for process in processes:
        assert process.wait(timeout=600) == 0, process.stderr.read()
    experiment_dir = tmp_path / "random_labels"
    folders = sorted(p.name for p in experiment_dir.iterdir())
    assert folders == ["version_0", "version_1"]
    seeds = set()
    for folder in folders:
        summary = json.loads((experiment_dir / folder / "summary.json").read_text())
        (run,) = summary["runs"]
        assert Path(run["log_dir"]).parent == experiment_dir / folder and Path(run["checkpoint"]).is_file()
        assert torch.load(run["checkpoint"], weights_only=False)["hyper_parameters"]["init_seed"] == run["settings"]["init_seed"]
        assert all(Path(figure).parent == experiment_dir / folder / "figures" for figure in summary["figures"])
        seeds.add(summary["settings"]["seed"])
    assert seeds == {1, 2}

    before = {path: path.read_bytes() for path in experiment_dir.rglob("*") if path.is_file()}
    assert random_labels.main([*flags, "--seed", "3"])["result"].log_dir.startswith(str(experiment_dir / "version_2"))
    assert {path: path.read_bytes() for path in before} == before


def test_a_resumed_run_writes_the_event_file_tensorboard_reads_last(tmp_path: Path) -> None:
    """An event file from this very second (a run killed just after it started) must not sort after the resumed
    run's file, whose purge would otherwise be undone by it: the resume waits for the next second."""
    killed = tmp_path / f"events.out.tfevents.{int(time.time())}.host.99999999.0"
    killed.write_bytes(b"")
    wait_for_a_later_event_file_name(tmp_path)
    writer = SummaryWriter(str(tmp_path))
    writer.add_scalar("x", 1.0, 0)
    writer.close()
    assert sorted(path.name for path in tmp_path.glob("events.out.tfevents.*"))[0] == killed.name


def test_writers_of_one_file_at_once_leave_one_whole_file(tmp_path: Path) -> None:
    """As two invocations rebuilding one out-dir's report do: each writes its own partial file, then renames it."""
    target = tmp_path / "report" / "index.html"
    pages = [f"<html>{str(writer) * 300_000}</html>\n" for writer in range(4)]
    with ThreadPoolExecutor(len(pages)) as pool:
        list(pool.map(lambda page: [write_text_atomically(page, target) for _ in range(5)], pages))
    assert target.read_text() in pages
    assert not list(target.parent.glob(".*.partial"))

