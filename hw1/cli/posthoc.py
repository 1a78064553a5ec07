"""Post-hoc analyses that train nothing: they read the checkpoints of another experiment's finished result folder."""

from __future__ import annotations

from pathlib import Path

from hw1.runs.errors import UsageError
from hw1.runs.results import is_finished, latest_finished, read_summary


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


