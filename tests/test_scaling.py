"""Beyond one machine: one run over two torchrun "nodes" on 127.0.0.1, and sweeps split into job-array tasks."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from experiments import minimal_ratio, params_vs_generalization, run_all
from hw1.cli.flags import run_cli
from hw1.reporting.logs import epoch_curves, read_scalars
from hw1.runs.errors import UsageError
from hw1.training.checkpoints import read_checkpoint

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_nodes(port: int, *flags: str) -> list[subprocess.Popen]:
    """Two torchrun launchers, node ranks 0 and 1, one gloo process each, as two machines would start them."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    return [subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--node-rank", str(rank),
                              "--nproc-per-node", "1", "--master-addr", "127.0.0.1", "--master-port", str(port),
                              str(ROOT / "experiments" / "random_labels.py"), "--accelerator", "cpu", "--devices", "1",
                              "--num-nodes", "2", "--strategy", "ddp", *flags],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                             start_new_session=True)  # fmt: skip
            for rank in (0, 1)]


def finish(nodes: list[subprocess.Popen]) -> list[str]:
    outputs = [node.communicate(timeout=600)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
    return outputs


def test_one_run_over_two_torchrun_nodes_then_killed_and_resumed(tiny_mnist: Path, tmp_path: Path) -> None:
    """Two "nodes" (torchrun --nnodes 2 --node-rank 0/1, gloo): one result folder, written by global rank 0; the logged
    test accuracy is that of the whole test set; killing both mid-run and resuming both continues the same run."""
    flags = ["--profile", "smoke", "--data-dir", str(tiny_mnist), "--batch-size", "16"]
    killed = tmp_path / "killed"
    checkpoints = killed / "random_labels" / "version_0" / "mlp-shuffle" / "checkpoints"
    nodes = start_nodes(free_port(), *flags, "--out-dir", str(killed), "--max-epochs", "40", "--checkpoint-every", "1")
    deadline = time.monotonic() + 300
    while not (checkpoints / "epoch=002.ckpt").is_file() and time.monotonic() < deadline:
        assert all(node.poll() is None for node in nodes), "a node stopped before it was killed"
        time.sleep(0.05)
    for node in nodes:
        os.killpg(node.pid, signal.SIGKILL)
        node.wait()
    stopped_at = int(read_checkpoint(checkpoints / "last.ckpt")["global_step"])
    assert 3 * 8 <= stopped_at < 40 * 8 and not (killed / "random_labels" / "version_0" / "summary.json").exists()
    outputs = finish(start_nodes(free_port(), *flags, "--out-dir", str(killed), "--max-epochs", "40",
                                 "--checkpoint-every", "1", "--resume"))  # fmt: skip
    assert "random_labels: resuming" in outputs[0]
    assert sorted(p.name for p in (killed / "random_labels").iterdir()) == ["version_0"]
    (resumed,) = json.loads((killed / "random_labels" / "version_0" / "summary.json").read_text())["runs"]
    assert resumed["epochs"] == 40 and int(torch.load(resumed["checkpoint"], weights_only=False)["global_step"]) == 40 * 8
    assert sorted(read_scalars(resumed["log_dir"])["train/loss_step"]) == list(range(40 * 8))  # 256 / 16 / 2 ranks
    assert abs(epoch_curves(resumed["log_dir"], ["test/acc"])["test/acc"][1][-1] - resumed["test_acc"]) < 1e-6


def sweep_command(tiny: Path, out: Path, *flags: str) -> list[str]:
    return [sys.executable, str(ROOT / "experiments" / "params_vs_generalization.py"), "--profile", "smoke",
            "--accelerator", "cpu", "--data-dir", str(tiny), "--out-dir", str(out), *flags]  # fmt: skip


def run_together(*commands: list[str]) -> list[subprocess.CompletedProcess]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    started = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for c in commands]
    return [subprocess.CompletedProcess(p.args, p.wait(timeout=600), p.stdout.read(), p.stderr.read()) for p in started]


def test_a_sweep_split_into_job_array_tasks_equals_the_sweep_in_one_invocation(
    tiny_mnist: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """params_vs_generalization's three runs as --run-index tasks into --name (one alone, two at once), then --collect:
    the same summary numbers and figure data as one invocation; a missing run is named; one run is trained once."""
    def flags(*more: str) -> list[str]:
        return sweep_command(tiny_mnist, tmp_path, *more)[2:]

    whole = params_vs_generalization.main(flags())
    capsys.readouterr()
    params_vs_generalization.main(flags("--list-runs"))
    listed = capsys.readouterr().out.split()
    assert listed == ["0", "w2-seed0", "width=2", "1", "w8-seed0", "width=8", "2", "w32-seed0", "width=32"]
    params_vs_generalization.main(flags("--name", "array", "--run-index", "0"))
    with pytest.raises(SystemExit) as missing:
        run_cli(lambda: params_vs_generalization.main(flags("--collect", "--name", "array")))
    assert missing.value.code == 2
    named = "lacks 2 of 3 runs: 1 (w8-seed0), 2 (w32-seed0); train them with --name array --run-index 1 2"
    assert named in capsys.readouterr().err

    both = run_together(*(sweep_command(tiny_mnist, tmp_path, "--name", "array", "--run-index", i) for i in ("1", "2")))
    assert [p.returncode for p in both] == [0, 0], both[0].stderr[-2000:] + both[1].stderr[-2000:]
    same = run_together(*(sweep_command(tiny_mnist, tmp_path / "same", "--name", "one", "--run-index", "1") for _ in "ab"))
    assert sorted(p.returncode for p in same) == [0, 2]
    refusal = next(p.stderr for p in same if p.returncode == 2)  # the other one was training it, or had trained it
    assert "is taken by another invocation" in refusal or "is already trained" in refusal, refusal
    trained = json.loads((tmp_path / "same" / "params_vs_generalization" / "one" / "w8-seed0" / "run.json").read_text())
    assert torch.load(trained["checkpoint"], weights_only=False)["global_step"] == 4  # 256 images / 64, one epoch
    with pytest.raises(UsageError, match="already trained"):
        params_vs_generalization.main(flags("--name", "array", "--run-index", "1"))

    collected = params_vs_generalization.main(flags("--collect", "--name", "array"))
    one, split = (json.loads((tmp_path / "params_vs_generalization" / folder / "summary.json").read_text())
                  for folder in ("version_0", "array"))  # fmt: skip
    assert [run["name"] for run in split["runs"]] == [run["name"] for run in one["runs"]] == ["w2-seed0", "w8-seed0", "w32-seed0"]
    for a, b in zip(one["runs"], split["runs"], strict=True):
        for key in ("params", "epochs", "train_loss", "train_acc", "test_loss", "test_acc"):
            assert abs(a[key] - b[key]) < 1e-6, (a["name"], key)
        assert Path(b["log_dir"]).parent.name == "array"
    for figure in ("loss", "accuracy"):
        drawn = [json.loads((tmp_path / "params_vs_generalization" / f / "figures" / f"{figure}.json").read_text())["series"]
                 for f in ("version_0", "array")]  # fmt: skip
        for a, b in zip(*drawn, strict=True):
            assert a["x"] == b["x"] and all(abs(u - v) < 1e-6 for u, v in zip(a["y"], b["y"], strict=True))
    assert [r.name for r in collected["results"]] == [r.name for r in whole["results"]]
    assert not (tmp_path / "params_vs_generalization" / "version_1").exists()  # collecting claims no new folder
    report = run_all.main(["--report-only", "--out-dir", str(tmp_path), "--only", "params_vs_generalization"])
    assert "Results: [" + str(tmp_path / "params_vs_generalization" / "array") + "]" in report["markdown"].read_text()


def test_sweep_flags_are_checked(tiny_mnist: Path, tmp_path: Path) -> None:
    flags = sweep_command(tiny_mnist, tmp_path)[2:]
    with pytest.raises(UsageError, match="need the sweep's shared folder: pass --name NAME"):
        params_vs_generalization.main([*flags, "--run-index", "0"])
    with pytest.raises(UsageError, match="--run-index 3 is out of range: this sweep has runs 0 to 2"):
        params_vs_generalization.main([*flags, "--name", "x", "--run-index", "3"])
    with pytest.raises(UsageError, match="no sweep named nothing"):
        params_vs_generalization.main([*flags, "--collect", "--name", "nothing"])
    with pytest.raises(SystemExit):
        minimal_ratio.main(["--profile", "smoke", "--out-dir", str(tmp_path), "--run-index", "0", "--name", "x"])
    assert not (tmp_path / "params_vs_generalization").exists() or not any((tmp_path / "params_vs_generalization").iterdir())
