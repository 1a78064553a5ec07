"""Event files: the compiled CRC gives tensorboard's checksums, and every run of a sweep carries an hparams summary
that TensorBoard's own reader finds, with its settings and final numbers."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c as tensorboard_masked_crc32c
from tensorboard.plugins.hparams import plugin_data_pb2

from experiments import params_vs_generalization
from hw1.training.event_files import HPARAM_METRIC_PREFIX, masked_crc32c


def test_the_compiled_crc_is_tensorboards() -> None:
    pick = random.Random(0)
    for length in (0, 1, 7, 60, 61, 1000, 65536):
        data = bytes(pick.randrange(256) for _ in range(length))
        assert masked_crc32c(data) == tensorboard_masked_crc32c(data), length


def hparams_of(log_dir: str) -> tuple[dict, set[str], dict]:
    """The run's hparams session (settings), its session tags, and its scalars, as TensorBoard reads them."""
    events = EventAccumulator(log_dir, size_guidance={"scalars": 0})
    events.Reload()
    content = events.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    settings = {key: getattr(value, str(value.WhichOneof("kind"))) for key, value in start.hparams.items()}
    scalars = {tag: [event.value for event in events.Scalars(tag)] for tag in events.Tags()["scalars"]}
    return settings, set(content), scalars


def test_every_run_of_a_sweep_has_its_hparams_for_tensorboard(tiny_mnist: Path, tmp_path: Path) -> None:
    params_vs_generalization.main(["--profile", "smoke", "--accelerator", "cpu", "--data-dir", str(tiny_mnist),
                                   "--out-dir", str(tmp_path), "--widths", "2", "8", "--max-epochs", "2"])  # fmt: skip
    summary = json.loads((tmp_path / "params_vs_generalization" / "version_0" / "summary.json").read_text())
    assert len(summary["runs"]) == 2
    for row in summary["runs"]:
        settings, tags, scalars = hparams_of(row["log_dir"])
        assert tags == {"_hparams_/session_start_info", "_hparams_/session_end_info"}  # no experiment summary of its own
        assert settings["width"] == row["width"] and settings["batch_size"] == row["settings"]["batch_size"]
        assert settings["lr"] == pytest.approx(row["settings"]["lr"]) and settings["optimizer"] == "adam"
        assert settings["net_config"] == json.dumps(row["settings"]["net_config"])
        for column in ("train_loss", "test_loss", "train_acc", "test_acc", "params", "epochs"):
            tag = HPARAM_METRIC_PREFIX + column
            assert scalars[tag] == [pytest.approx(row[column])], column
        assert len(scalars["train/loss_step"]) == row["epochs"] * 4  # the whole file read: 256 images, batch 64
        assert "hparams/plateau_epochs" not in scalars and "plateau_epochs" in settings  # a setting, not a metric


def test_the_minimal_ratio_nets_have_their_hparams_too(tmp_path: Path) -> None:
    from experiments import minimal_ratio

    rows = minimal_ratio.main(["--profile", "smoke", "--accelerator", "cpu", "--out-dir", str(tmp_path)])["runs"]
    settings, _, scalars = hparams_of(str(tmp_path / "minimal_ratio" / "version_0" / rows[0]["name"]))
    assert settings["init_seed"] == rows[0]["settings"]["init_seed"]
    assert scalars[HPARAM_METRIC_PREFIX + "minimal_ratio_sampled"] == [pytest.approx(rows[0]["minimal_ratio_sampled"])]
