"""Microseconds per TensorBoard scalar written, with tensorboard's pure-Python CRC and with the compiled one.

    OMP_NUM_THREADS=1 python benchmarks/event_writes.py
"""

from __future__ import annotations

import argparse
import tempfile
import time

from tensorboard.summary.writer import record_writer
from torch.utils.tensorboard import SummaryWriter

from hw1.training.event_files import use_compiled_crc


def microseconds_per_scalar(count: int) -> float:
    with tempfile.TemporaryDirectory() as folder, SummaryWriter(folder) as writer:
        start = time.perf_counter()
        for step in range(count):
            writer.add_scalar("train/loss_step", 1.0 / (step + 1), step)
        writer.flush()
        return (time.perf_counter() - start) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scalars", type=int, default=20000, help="scalars written per measurement")
    parser.add_argument("--rounds", type=int, default=5, help="measurements of each, alternating; the median is shown")
    count, rounds = parser.parse_args().scalars, parser.parse_args().rounds
    pure = record_writer.masked_crc32c
    times: dict[str, list[float]] = {"pure-Python CRC": [], "compiled CRC": []}
    for _ in range(rounds):
        record_writer.masked_crc32c = pure
        times["pure-Python CRC"].append(microseconds_per_scalar(count))
        use_compiled_crc()
        times["compiled CRC"].append(microseconds_per_scalar(count))
    for name, values in times.items():
        print(f"{name:>16}: {sorted(values)[len(values) // 2]:.1f} µs a scalar (median of {rounds}; {count} scalars each)")


if __name__ == "__main__":
    main()
