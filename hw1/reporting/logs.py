"""Reading the scalars a run logged to TensorBoard back, per epoch (resumed runs included)."""

from __future__ import annotations

from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def read_scalars(log_dir: str | Path) -> dict[str, dict[int, float]]:
    """Every scalar tag in a run's event files as {step: value}; steps purged by a resume are left out."""
    accumulator = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})
    accumulator.Reload()
    return {tag: {e.step: e.value for e in accumulator.Scalars(tag)} for tag in accumulator.Tags()["scalars"]}


def epoch_curves(log_dir: str | Path, tags: list[str]) -> dict[str, tuple[list[int], list[float]]]:
    """Epoch-level tags as (epochs completed, values): epoch 1 is the value logged at the end of the first epoch."""
    scalars = read_scalars(log_dir)
    epoch_at_step = scalars.get("epoch", {})
    curves = {}
    for tag in tags:
        points = sorted((int(epoch_at_step[step]) + 1, value) for step, value in scalars.get(tag, {}).items())
        curves[tag] = ([epoch for epoch, _ in points], [value for _, value in points])
    return curves
