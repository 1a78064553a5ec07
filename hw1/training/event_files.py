"""TensorBoard event files: written with a compiled CRC, and a run's hparams summary for the HParams dashboard.

Every record of an event file carries two masked CRC-32C checksums; tensorboard's writer (which torch's SummaryWriter,
and so Lightning's TensorBoardLogger, use) computes them in pure Python, about 8 µs each for a scalar's record on
these cores. `use_compiled_crc` points it at the `crc32c` package's C implementation, same values.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import crc32c
from tensorboard.summary.writer import record_writer
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams

HPARAM_METRIC_PREFIX = "hparams/"  # the final numbers, as scalars the HParams dashboard reads (beside the curves)
NOT_HPARAMS = ("settings", "checkpoint", "log_dir", "name")  # row columns that are not a setting or a number
RUN_CONDITIONS = ("threads",)  # row columns that say how the run computed: shown beside its settings, not as results


def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked CRC-32C of `data`: the checksum rotated right by 15 bits plus a constant."""
    checksum = crc32c.crc32c(data)
    return (((checksum >> 15) | (checksum << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def use_compiled_crc() -> None:
    """Make tensorboard's record writer checksum with the compiled CRC (idempotent)."""
    record_writer.masked_crc32c = masked_crc32c


def hparam_value(value: Any) -> bool | int | float | str | None:
    """A setting as the HParams dashboard takes it (None: left out)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return json.dumps(value, default=str)


def run_hparams(row: Mapping[str, Any], details: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, float]]:
    """A run's settings (as it trained: its row's `settings`, the `details` that distinguish it in its sweep, such as
    a width or a role, and the threads it computed with) and its final numbers (every numeric column of its row that
    is not a setting: losses, accuracies, parameters, epochs, steps, seconds and the experiment's own measures)."""
    settings = {**row.get("settings", {}), **details, **{key: row[key] for key in RUN_CONDITIONS if key in row}}
    chosen = {key: shown for key, value in settings.items() if (shown := hparam_value(value)) is not None}
    metrics = {key: float(value) for key, value in row.items()
               if key not in NOT_HPARAMS and key not in settings and _is_number(value) and math.isfinite(value)}  # fmt: skip
    return chosen, metrics


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def write_hparams(log_dir: Path, row: Mapping[str, Any], details: Mapping[str, Any]) -> None:
    """Write the run's hparams session (`run_hparams`) into its TensorBoard folder, with its final numbers as scalars
    `hparams/<column>`, so that TensorBoard's HParams table lists runs side by side.

    Only the session's start and end are written, not the experiment summary that `hparams()` also builds: TensorBoard
    takes the first experiment summary it finds under its --logdir as the table's columns for every run in it, so one
    sweep's would hide every other experiment's settings. Without one it builds the columns from all the runs' own
    sessions (their union) and their scalars: `tensorboard --logdir lightning_logs` shows every experiment's.
    """
    use_compiled_crc()
    settings, metrics = run_hparams(row, details)
    named = {f"{HPARAM_METRIC_PREFIX}{key}": value for key, value in metrics.items()}
    _, start, end = hparams(settings, named)
    with SummaryWriter(log_dir=str(log_dir)) as writer:
        for summary in (start, end):
            writer._get_file_writer().add_summary(summary)  # as Lightning's TensorBoardLogger writes its hparams
        for tag, value in named.items():
            writer.add_scalar(tag, value, 0)
