"""What an invocation prints: quiet by default, one line per finished run, progress bars only on a terminal.

Quiet: Lightning's start-up lines (devices, its advert for another logging product, "`Trainer.fit` stopped"), its
model summary and its bar for every evaluation pass are off, and the third-party warnings listed in
`THIRD_PARTY_WARNINGS` are filtered, each by message and module, with the reason beside it. `--verbose` brings all of
it back. A run's line is printed as it finishes (`run_line` for a trained run); an experiment's other lines (its result
paths, aggregate numbers) are details, which `run_all.py` leaves out of its console: the report holds them. A single
experiment started in a terminal shows Lightning's bar for the run in progress; `run_all.py` shows one bar for the
suite instead. When stdout is not a terminal (a log file, CI, a job array) there are no bars: each line is printed
once.
"""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tqdm import tqdm


@dataclass(frozen=True)
class ThirdPartyWarning:
    """A warning raised inside another package's code that this project cannot fix, and why it is filtered."""

    message: str  # a regular expression matched against the start of the warning's text
    module: str  # a regular expression matched against the module the warning is attributed to
    category: type[Warning]
    reason: str


THIRD_PARTY_WARNINGS = (
    ThirdPartyWarning(r"`isinstance\(treespec, LeafSpec\)` is deprecated", r"lightning\.pytorch\.utilities\._pytree",
                      FutureWarning, "Lightning 2.6's own copy of torch's tree_flatten builds the LeafSpec that torch 2.14 "
                      "deprecates; raised once per fit, inside Lightning, whatever the caller does"),
    ThirdPartyWarning(r"`torch\.jit\.script` is deprecated", r"torch\.jit\._script", FutureWarning,
                      "torch 2.14's forward-mode AD (torch.func.jvp, in the Hessian-vector products) compiles its own "
                      "decompositions with torch.jit.script when first used in a process"),
)  # fmt: skip
LIGHTNING_LOGGERS = ("lightning.pytorch", "lightning.fabric")  # their INFO lines are the start-up banner and tips


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


class Console:
    """The invocation's console: whether it is verbose, whether a suite (`run_all.py`) runs it, the suite's bar."""

    def __init__(self) -> None:
        self.verbose = False
        self.in_suite = False
        self.bar: Any = None  # the suite's tqdm bar, on a terminal
        self.runs_finished = 0

    def configure(self, verbose: bool) -> None:
        """Quiet (the default) or verbose: Lightning's INFO lines and the filtered warnings."""
        self.verbose = verbose
        for name in LIGHTNING_LOGGERS:
            logging.getLogger(name).setLevel(logging.INFO if verbose else logging.WARNING)
        for known in THIRD_PARTY_WARNINGS:
            warnings.filterwarnings("default" if verbose else "ignore", message=known.message, category=known.category,
                                    module=known.module)  # fmt: skip

    def run_bars(self) -> bool:
        """Whether a run shows Lightning's progress bar: with --verbose, or in a terminal outside a suite."""
        return self.verbose or (stdout_is_terminal() and not self.in_suite)

    def say(self, line: str) -> None:
        """A line that is always printed (above the suite's bar, if one is drawn)."""
        if self.bar is not None:
            self.bar.write(line, file=sys.stdout)
        else:
            print(line, flush=True)

    def detail(self, line: str) -> None:
        """An experiment's line besides its runs' (result paths, aggregate numbers): left out in a suite."""
        if self.verbose or not self.in_suite:
            self.say(line)

    def run_finished(self, line: str) -> None:
        """One finished run's line; the suite's bar counts it."""
        self.runs_finished += 1
        self.say(line)
        if self.bar is not None:
            self.bar.set_postfix_str(f"{self.runs_finished} runs done")

    def run_started(self, experiment: str, run: str) -> None:
        """The suite's bar names the run in progress (nothing is printed)."""
        if self.bar is not None:
            self.bar.set_postfix_str(f"{self.runs_finished} runs done, now {experiment}: {run}")

    def suite_bar(self, experiments: int) -> Any:
        """The suite's bar over its experiments, on a terminal and unless verbose (then the runs draw their own)."""
        self.runs_finished = 0
        if self.verbose or not stdout_is_terminal():
            return None
        self.bar = tqdm(total=experiments, unit="experiment", file=sys.stdout, dynamic_ncols=True,
                        bar_format="{n}/{total} experiments |{bar}| {elapsed} elapsed, about {remaining} left{postfix}")
        return self.bar

    def close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


CONSOLE = Console()


def seconds_text(seconds: float) -> str:
    """A duration as a person reads it: 4.2 s, 3 min 05 s, 1 h 02 min."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def stop_text(row: Mapping[str, Any]) -> str:
    """Why a trained run stopped: its target reached (at which epoch), or what stopped it short of one."""
    if row.get("target_loss") is None:
        return "no target"
    if row.get("target_reached"):
        return f"target loss {row['target_loss']:g} reached at epoch {row['target_epoch']}"
    return f"target loss {row['target_loss']:g} not reached (stopped by {row.get('stopped_by', 'epoch cap')})"


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def _metric(name: str, loss: Any, acc: Any) -> str:
    return f"{name} loss {loss:.4g}" + (f" acc {acc:.4f}" if acc is not None else "")


def run_line(row: Mapping[str, Any]) -> str:
    """A trained run's one line: name, epochs and steps, target, wall time and threads, then its key numbers."""
    timing = f"{seconds_text(row['seconds'])} on {_count(row['threads'], 'thread')}"
    return (f"{row['name']}: {_count(row['epochs'], 'epoch')}, {_count(row['steps'], 'step')}, {stop_text(row)}, {timing}; "
            f"{row['params']:,} params, {_metric('train', row['train_loss'], row.get('train_acc'))}, "
            f"{_metric('test', row['test_loss'], row.get('test_acc'))}")  # fmt: skip
