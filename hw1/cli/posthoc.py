"""Post-hoc analyses that train nothing: they read the checkpoints of another experiment's finished result folder."""

from __future__ import annotations

from pathlib import Path

from hw1.runs.errors import UsageError
from hw1.runs.results import is_finished, latest_finished, read_summary
from hw1.training.targets import TARGET_OPTIONS

TRAINING_ONLY = ("devices", "num_nodes", "strategy", "precision", "max_epochs", *TARGET_OPTIONS, "eval_every",
                 "batch_size", "optimizer",
                 "lr", "lr_schedule", "momentum", "weight_decay", "seeds", "data_seed", "deterministic", "resume",
                 "train_subset", "log_every_n_steps", "checkpoint_every", "steps_per_chunk", "name", "run_index",
                 "collect", "list_runs")  # fmt: skip


def analysis_unused(source: str) -> dict[str, str]:
    """The shared training flags a post-hoc analysis of `source`'s checkpoints refuses, each with the reason."""
    return {dest: f"this experiment trains nothing; it analyses the checkpoints of {source} as they were trained"
            for dest in TRAINING_ONLY}  # fmt: skip


def source_folder(given: str | None, out_dir: str, experiment: str) -> Path:
    """The finished result folder of `experiment` to analyse: `given`, else the latest finished one in `out_dir`."""
    if given is None:
        latest = latest_finished(out_dir, experiment)
        if latest is None:
            raise UsageError(f"no finished {experiment} result in {Path(out_dir) / experiment}; run "
                             f"experiments/{experiment}.py first, or pass --source <its result folder>")  # fmt: skip
        return latest
    folder = Path(given)
    if not is_finished(folder) or read_summary(folder).get("experiment") != experiment:
        raise UsageError(f"--source {given} is not a finished {experiment} result folder (one holding its summary.json);"
                         f" pass e.g. {Path(out_dir) / experiment / 'version_0'}")  # fmt: skip
    return folder


