"""`--jobs N`: a sweep's runs as concurrent child processes give the sweep one by one would, survive a kill, and a
failing child fails the invocation with its name and log."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from experiments import params_vs_generalization
from hw1.cli.flags import run_cli
from hw1.cli.jobs import JOBS_FOLDER

ROOT = Path(__file__).resolve().parents[1]
METRICS = ("params", "epochs", "steps", "train_loss", "train_acc", "test_loss", "test_acc")


def flags(data: Path, out: Path, *more: str) -> list[str]:
    return ["--profile", "smoke", "--accelerator", "cpu", "--data-dir", str(data), "--out-dir", str(out),
            "--widths", "2", "8", "32", *more]  # fmt: skip


def rows(out: Path) -> dict[str, dict]:
    summary = json.loads((out / "params_vs_generalization" / "version_0" / "summary.json").read_text())
    return {row["name"]: row for row in summary["runs"]}


def files(out: Path) -> set[str]:
    """The result folder's files, event-file names (host, pid, time) and the children's logs aside."""
    folder = out / "params_vs_generalization" / "version_0"
    return {re.sub(r"events\.out\.tfevents\..*", "events.out.tfevents.*", str(path.relative_to(folder)))
            for path in folder.rglob("*") if path.is_file() and JOBS_FOLDER not in path.parts}  # fmt: skip


def assert_same_runs(first: dict[str, dict], second: dict[str, dict]) -> None:
    assert first.keys() == second.keys()
    for name in first:
        for metric in METRICS:
            assert second[name][metric] == pytest.approx(first[name][metric], abs=1e-6), (name, metric)
        assert second[name]["settings"] == {**first[name]["settings"], "steps_per_chunk": second[name]["settings"]
                                            ["steps_per_chunk"]}  # fmt: skip


def test_a_sweep_with_two_jobs_equals_the_sweep_run_one_by_one(tiny_mnist: Path, tmp_path: Path, capsys) -> None:
    params_vs_generalization.main(flags(tiny_mnist, tmp_path / "one_by_one", "--max-epochs", "2"))
    capsys.readouterr()
    params_vs_generalization.main(flags(tiny_mnist, tmp_path / "jobs", "--max-epochs", "2", "--jobs", "2"))
    assert_same_runs(rows(tmp_path / "one_by_one"), rows(tmp_path / "jobs"))
    assert {row["threads"] for row in rows(tmp_path / "jobs").values()} == {max(1, torch.get_num_threads() // 2)}
    printed = capsys.readouterr().out.splitlines()  # the parent prints each child's run as its row appears
    assert sorted(line.split(":")[0] for line in printed if " epochs, " in line) == sorted(rows(tmp_path / "jobs"))
    assert files(tmp_path / "jobs") == files(tmp_path / "one_by_one")
    logs = sorted(p.name for p in (tmp_path / "jobs" / "params_vs_generalization" / "version_0" / JOBS_FOLDER).glob("*.log"))
    assert logs == ["job0.log", "job1.log"]  # job0: w2 and w32, job1: w8


def test_a_killed_sweep_with_jobs_resumes_to_the_same_numbers(tiny_mnist: Path, tmp_path: Path) -> None:
    """SIGKILL of the parent ends its children too; --resume --jobs 2 finishes what they left."""
    killed = tmp_path / "killed"
    many_epochs = ("--max-epochs", "40", "--deterministic")
    command = [sys.executable, str(ROOT / "experiments" / "params_vs_generalization.py"),
               *flags(tiny_mnist, killed, *many_epochs, "--jobs", "2")]  # fmt: skip
    parent = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    folder = killed / "params_vs_generalization" / "version_0"
    deadline = time.monotonic() + 240
    while not list(folder.glob("*/checkpoints/last.ckpt")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert parent.poll() is None, "the sweep finished before it could be killed"
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    children = folder / JOBS_FOLDER
    deadline = time.monotonic() + 30
    while children_alive(children) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not children_alive(children), "a child outlived its parent"
    assert not (folder / "summary.json").exists()
    params_vs_generalization.main(flags(tiny_mnist, killed, *many_epochs, "--jobs", "2", "--resume"))
    params_vs_generalization.main(flags(tiny_mnist, tmp_path / "straight", *many_epochs))
    assert_same_runs(rows(tmp_path / "straight"), rows(killed))


def children_alive(jobs_folder: Path) -> bool:
    """Whether a process started with one of this folder's task files still runs."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(jobs_folder).encode() in cmdline.read_bytes():
                return True
        except OSError:
            continue
    return False


def test_a_failing_child_fails_the_invocation_naming_its_run_and_log(
    tiny_mnist: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    params_vs_generalization.main(flags(tiny_mnist, tmp_path, "--max-epochs", "1"))
    folder = tmp_path / "params_vs_generalization" / "version_0"
    (folder / "w8-seed0" / "checkpoints" / "last.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(SystemExit) as stopped:
        run_cli(lambda: params_vs_generalization.main(flags(tiny_mnist, tmp_path, "--max-epochs", "2", "--jobs", "2",
                                                            "--resume")))  # fmt: skip
    assert stopped.value.code == 1
    (error,) = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    log = folder / JOBS_FOLDER / "job1.log"  # job0 trains w2 and w32, job1 w8
    assert f"not trained: w8-seed0 (exit code 2; log: {log})" in error and "--resume" in error
    assert "last.ckpt is unreadable" in log.read_text()
    trained = {name: json.loads((folder / name / "run.json").read_text())["epochs"] for name in ("w2-seed0", "w32-seed0")}
    assert trained == {"w2-seed0": 2, "w32-seed0": 2}
