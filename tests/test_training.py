"""Real Trainer runs through experiments/random_labels.py: outputs, summary, checkpoints, resume, determinism."""

from __future__ import annotations

import json
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from experiments import random_labels
from hw1.reporting.logs import epoch_curves, read_scalars
from hw1.training.data import MNISTDataModule
from hw1.training.modules import Classifier
from hw1.training.trainer_callbacks import ChunkSize

EPOCH_TAGS = ["train/loss_mean", "train/acc_mean", "test/loss", "test/acc"]


def run(data: Path, out: Path, *flags: str) -> dict:
    argv = ["--profile", "smoke", "--accelerator", "cpu", "--data-dir", str(data), "--out-dir", str(out), *flags]
    return random_labels.main(argv)


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width > 100 and height > 100
    assert zlib.crc32(data[12:29]) == struct.unpack(">I", data[29:33])[0]  # IHDR chunk intact


def test_run_writes_logs_checkpoints_figure_and_summary(tiny_mnist: Path, tmp_path: Path) -> None:
    result = run(tiny_mnist, tmp_path, "--max-epochs", "3", "--batch-size", "32")["result"]
    experiment_dir = tmp_path / "random_labels" / "version_0"
    log_dir = Path(result.log_dir)
    assert log_dir == experiment_dir / "mlp-shuffle"
    checkpoints = sorted(p.name for p in (log_dir / "checkpoints").iterdir())
    assert checkpoints == ["epoch=000.ckpt", "epoch=001.ckpt", "epoch=002.ckpt", "last.ckpt"]
    assert (log_dir / "hparams.yaml").read_text().count("params: ") == 1

    scalars = read_scalars(log_dir)
    assert sorted(scalars["train/loss_step"]) == list(range(3 * 8))  # 256 images / 32 per batch = 8 steps
    curves = epoch_curves(log_dir, EPOCH_TAGS)
    assert all(curves[tag][0] == [1, 2, 3] for tag in EPOCH_TAGS)

    summary = json.loads((experiment_dir / "summary.json").read_text())
    assert summary["experiment"] == "random_labels" and summary["settings"]["max_epochs"] == 3
    (entry,) = summary["runs"]
    assert entry["params"] == 784 * 64 + 64 + 64 * 10 + 10 and entry["epochs"] == 3
    assert set(entry) == {"name", "params", "epochs", "train_loss", "train_acc", "test_loss", "test_acc", "checkpoint",
                          "log_dir", "settings", "target_loss", "plateau_epochs", "target_reached", "target_epoch",
                          "target_step", "stopped_by", "steps", "seconds", "threads", "label_fraction"}  # fmt: skip
    assert entry["target_loss"] is None and entry["stopped_by"] == "epoch cap"  # the smoke profile trains no target
    assert entry["settings"]["batch_size"] == 32 and entry["settings"]["init_seed"] == entry["settings"]["data_seed"] == 0
    assert 0 <= entry["train_acc"] <= 1 and entry["test_loss"] > 0
    assert curves["test/loss"][1][-1] == pytest.approx(entry["test_loss"], rel=1e-5)  # same model, same pass
    for figure in summary["figures"]:
        assert_png(Path(figure))
    assert any(p.name.startswith("events.out.tfevents") for p in (experiment_dir / "figures").iterdir())

    model = Classifier.load_from_checkpoint(log_dir / "checkpoints" / "epoch=002.ckpt", map_location="cpu")
    assert model.hparams.net == "mlp" and model.num_parameters == entry["params"]


def test_train_metrics_fed_once_per_epoch_equal_metrics_updated_every_batch() -> None:
    torch.manual_seed(0)
    module = Classifier("mlp", {"hidden": [8]})
    batches = [(torch.randn(n, 1, 28, 28), torch.randint(0, 10, (n,))) for n in (64, 64, 17)]
    every_batch = module.new_metrics()
    with torch.no_grad():
        for x, y in batches:  # what training_step keeps of each step
            outputs = module(x)
            loss = module.loss(outputs, y)
            module.epoch_batches.append((module.compact_outputs(outputs), y, loss))
            every_batch["loss"].update(loss, weight=len(y))
            every_batch["acc"].update(outputs, y)
    module.update_train_metrics()
    assert module.epoch_batches == []
    for name, metric in every_batch.items():
        assert module.train_metrics[name].compute().item() == pytest.approx(metric.compute().item(), rel=1e-6)
    assert 0 < every_batch["acc"].compute().item() < 1


def test_final_train_numbers_come_from_an_eval_pass_with_the_trained_labels(tiny_mnist: Path, tmp_path: Path) -> None:
    outcome = run(tiny_mnist, tmp_path, "--max-epochs", "1", "--train-subset", "64", "--label-mode", "uniform")
    result = outcome["result"]
    model = Classifier.load_from_checkpoint(result.checkpoint, map_location="cpu")
    datamodule = MNISTDataModule(tiny_mnist, train_subset=64, label_mode="uniform", data_seed=0)
    datamodule.setup()
    expected = model.evaluate(datamodule.train_eval_dataloader())
    assert result.train_loss == pytest.approx(expected["loss"], rel=1e-6)
    assert result.train_acc == pytest.approx(expected["acc"])


def test_resume_continues_without_repeating_or_skipping_epochs(tiny_mnist: Path, tmp_path: Path) -> None:
    straight = run(tiny_mnist, tmp_path / "straight", "--max-epochs", "4", "--deterministic")["result"]
    run(tiny_mnist, tmp_path / "split", "--max-epochs", "2", "--deterministic")
    resumed = run(tiny_mnist, tmp_path / "split", "--max-epochs", "4", "--deterministic", "--resume")["result"]
    assert resumed.log_dir == str(tmp_path / "split" / "random_labels" / "version_0" / "mlp-shuffle")
    assert resumed.epochs == 4
    curves = epoch_curves(resumed.log_dir, EPOCH_TAGS)
    straight_curves = epoch_curves(straight.log_dir, EPOCH_TAGS)
    for tag in EPOCH_TAGS:
        assert curves[tag][0] == [1, 2, 3, 4]
        assert curves[tag][1] == pytest.approx(straight_curves[tag][1], abs=1e-6)
    assert sorted(read_scalars(resumed.log_dir)["train/loss_step"]) == list(range(4 * 4))
    assert resumed.train_loss == pytest.approx(straight.train_loss, abs=1e-6)
    assert resumed.test_acc == straight.test_acc


def test_a_run_without_resume_starts_a_new_version(tiny_mnist: Path, tmp_path: Path) -> None:
    first = run(tiny_mnist, tmp_path, "--max-epochs", "1")["result"]
    second = run(tiny_mnist, tmp_path, "--max-epochs", "1")["result"]
    assert Path(first.log_dir).parent.name == "version_0" and Path(second.log_dir).parent.name == "version_1"
    assert Path(first.checkpoint).is_file()


def test_same_seed_same_numbers(tiny_mnist: Path, tmp_path: Path) -> None:
    a = run(tiny_mnist, tmp_path / "a", "--max-epochs", "2", "--seed", "5")["result"]
    b = run(tiny_mnist, tmp_path / "b", "--max-epochs", "2", "--seed", "5")["result"]
    c = run(tiny_mnist, tmp_path / "c", "--max-epochs", "2", "--seed", "6")["result"]
    assert (a.train_loss, a.test_loss) == (b.train_loss, b.test_loss)
    assert a.train_loss != c.train_loss


def test_a_wide_mlp_memorises_shuffled_labels(tiny_mnist: Path, tmp_path: Path) -> None:
    """Zhang et al. in miniature: 128 images with shuffled labels are fitted; the test set stays near chance."""
    result = run(
        tiny_mnist, tmp_path, "--train-subset", "128", "--hidden", "512", "--max-epochs", "40", "--batch-size", "32",
        "--checkpoint-every", "0",
    )["result"]  # fmt: skip
    assert result.train_acc == 1.0
    assert result.test_acc < 0.35
    assert result.test_loss > result.train_loss
    torch.testing.assert_close(torch.tensor(result.epochs), torch.tensor(40))


def test_a_killed_run_resumes_to_the_same_numbers(tiny_mnist: Path, tmp_path: Path) -> None:
    """SIGKILL after a few epochs, then --resume: only the unfinished epoch is redone, and nothing differs."""
    flags = ["--max-epochs", "30", "--batch-size", "4", "--deterministic", "--checkpoint-every", "0"]
    command = [sys.executable, str(Path(random_labels.__file__)), "--profile", "smoke", "--accelerator", "cpu",
               "--data-dir", str(tiny_mnist), "--out-dir", str(tmp_path / "killed"), *flags]  # fmt: skip
    last = tmp_path / "killed" / "random_labels" / "version_0" / "mlp-shuffle" / "checkpoints" / "last.ckpt"
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and process.poll() is None:
            if last.is_file() and torch.load(last, map_location="cpu", weights_only=False)["epoch"] >= 2:
                break
            time.sleep(0.05)
        assert process.poll() is None, "the run ended before it could be killed"
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    killed_at = torch.load(last, map_location="cpu", weights_only=False)["epoch"]
    assert 2 <= killed_at < 30
    resumed = run(tiny_mnist, tmp_path / "killed", *flags, "--resume")["result"]
    straight = run(tiny_mnist, tmp_path / "straight", *flags)["result"]
    curves = epoch_curves(resumed.log_dir, EPOCH_TAGS)
    assert all(curves[tag][0] == list(range(1, 31)) for tag in EPOCH_TAGS)
    assert curves["test/loss"][1] == pytest.approx(epoch_curves(straight.log_dir, ["test/loss"])["test/loss"][1], abs=1e-6)
    assert (resumed.train_loss, resumed.test_loss) == pytest.approx((straight.train_loss, straight.test_loss), abs=1e-6)


def test_chunks_of_optimizer_steps_give_the_numbers_of_one_step_per_batch(tiny_mnist: Path, tmp_path: Path) -> None:
    """K minibatches per Lightning step (a short last chunk included) and the automatic K: same weights, same curves
    at the same optimizer steps, as one step per Lightning step; the cosine schedule is stepped once per epoch."""
    flags = ["--max-epochs", "3", "--batch-size", "24", "--lr-schedule", "cosine", "--checkpoint-every", "0"]
    runs = {k: run(tiny_mnist, tmp_path / k, *flags, *(["--steps-per-chunk", k] if k != "auto" else []))["result"]
            for k in ("1", "4", "auto")}  # fmt: skip
    one = runs["1"]
    one_scalars = read_scalars(one.log_dir)
    assert sorted(one_scalars["train/loss_step"]) == list(range(3 * 11))  # 256 images in batches of 24: 11 steps
    one_weights = torch.load(one.checkpoint, map_location="cpu", weights_only=False)
    assert one_weights["lr_schedulers"][0]["last_epoch"] == 3
    for k, result in runs.items():
        assert result.settings["steps_per_chunk"] == (int(k) if k != "auto" else result.settings["steps_per_chunk"])
        scalars = read_scalars(result.log_dir)
        assert scalars.keys() == one_scalars.keys()
        for tag, values in one_scalars.items():
            assert scalars[tag].keys() == values.keys(), tag
            if tag == "hparams/seconds":  # the run's wall time
                continue
            assert list(scalars[tag].values()) == pytest.approx(list(values.values()), abs=1e-6), tag
        weights = torch.load(result.checkpoint, map_location="cpu", weights_only=False)
        assert weights["global_step"] == one_weights["global_step"] == 33
        for name, tensor in one_weights["state_dict"].items():
            torch.testing.assert_close(weights["state_dict"][name], tensor, atol=1e-6, rtol=0)
        assert (result.train_loss, result.test_loss) == pytest.approx((one.train_loss, one.test_loss), abs=1e-6)
    assert 1 <= runs["auto"].settings["steps_per_chunk"] <= 11


def test_a_resumed_cosine_schedule_continues_where_it_stopped(tiny_mnist: Path, tmp_path: Path) -> None:
    """Manual optimization steps the schedule itself: resuming from an epoch-end checkpoint of a 4-epoch cosine run
    ends at the weights and schedule of the uninterrupted run."""

    def fit(checkpoint: Path | None = None) -> L.Trainer:
        module = Classifier("mlp", {"hidden": [16]}, "sgd", 0.1, momentum=0.9, lr_schedule="cosine", init_seed=0)
        datamodule = MNISTDataModule(str(tiny_mnist), batch_size=24, train_subset=200, download=False)
        every_epoch = ModelCheckpoint(tmp_path, "{epoch}", save_top_k=-1, save_on_train_epoch_end=True)
        trainer = L.Trainer(max_epochs=4, accelerator="cpu", logger=False, enable_progress_bar=False,
                            callbacks=[ChunkSize(4), every_epoch], default_root_dir=tmp_path)  # fmt: skip
        trainer.fit(module, datamodule=datamodule, ckpt_path=checkpoint)
        return trainer

    straight = fit()
    final = torch.load(tmp_path / "epoch=3.ckpt", map_location="cpu", weights_only=False)
    resumed = fit(tmp_path / "epoch=1.ckpt")
    assert resumed.global_step == straight.global_step == 4 * 9
    for name, tensor in final["state_dict"].items():
        torch.testing.assert_close(resumed.lightning_module.state_dict()[name], tensor, atol=1e-6, rtol=0)
    assert resumed.lr_scheduler_configs[0].scheduler.state_dict() == final["lr_schedulers"][0]
    assert final["lr_schedulers"][0]["last_epoch"] == 4
