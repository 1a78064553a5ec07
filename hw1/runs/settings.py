"""The settings every experiment shares, as a frozen dataclass whose fields are also command-line flags (`Option`),
with the flag value checkers and the profile names."""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

PROFILES = ("full", "quick", "smoke")


Profiles = Mapping[str, Mapping[str, Any]]


MAX_SEED = 2**31 - 1  # numpy takes seeds below 2**32; multi-run experiments add the run's index


PRECISIONS = ("32-true", "16-mixed", "bf16-mixed", "16-true", "bf16-true", "64-true", "32", "16", "bf16", "64",
              "transformer-engine", "transformer-engine-float16")  # fmt: skip


def finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def seed_value(text: str) -> int:
    value = int(text)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be an integer from 0 to {MAX_SEED}, got {text}")
    return value


def devices_value(text: str) -> str:
    """As Lightning's Trainer takes it: a positive count, -1 (all), `auto`, or a list of device indices like 0,1."""
    if text == "auto" or text == "-1" or re.fullmatch(r"[1-9]\d*", text) or re.fullmatch(r"\d+(,\d+)+,?|\d+,", text):
        return text
    raise argparse.ArgumentTypeError(f"must be a positive count, -1 (all), auto, or device indices like 0,1; got {text!r}")


def strategy_value(text: str) -> str:
    from lightning.pytorch.strategies import StrategyRegistry

    known = ("auto", *StrategyRegistry.available_strategies())
    if text not in known:
        raise argparse.ArgumentTypeError(f"unknown strategy {text!r}; choose one of: {', '.join(known[:5])}, ...")
    return text


def folder_name(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", text) or re.fullmatch(r"version_\d+", text):
        raise argparse.ArgumentTypeError(f"must be a folder name of letters, digits, '.', '_' and '-' (not version_N), "
                                         f"got {text!r}")  # fmt: skip
    return text


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def positive_float(text: str) -> float:
    value = finite_float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def non_negative_float(text: str) -> float:
    value = finite_float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


AUTO = "auto"


def jobs_value(text: str) -> int | str:
    """A count of concurrent jobs, or `auto` (`hw1.cli.sweeps.concurrent_jobs` decides)."""
    return AUTO if text == AUTO else positive_int(text)


def fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must lie in [0, 1], got {text}")
    return value


@dataclass(frozen=True)
class Option:
    """One command-line flag; its default may be overridden by a profile and then by the command line."""

    flag: str
    help: str
    default: Any = None
    type: Callable[[str], Any] | None = None
    choices: Sequence[Any] | None = None
    nargs: str | None = None
    switch: bool = False

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    def problem(self, value: Any) -> str | None:
        """Why `value` (from a profile) is not one this flag could give, else None: the same type check and choices
        as the command line's. None (e.g. full-batch training where the flag's default is a batch size) passes."""
        if value is None:
            return None
        if self.switch:
            return None if isinstance(value, bool) else f"{value!r}, not True or False"
        if self.nargs is not None:
            if not isinstance(value, list):
                return f"{value!r}, not a list"
            return next((found for item in value if (found := self._item_problem(item)) is not None), None)
        return self._item_problem(value)

    def _item_problem(self, value: Any) -> str | None:
        if self.choices is not None and value not in self.choices:
            return f"{value!r}, not one of {', '.join(map(str, self.choices))}"
        if self.type is None:
            return None if isinstance(value, str) else f"{value!r}, not a string"
        try:
            parsed = self.type(str(value))
        except (argparse.ArgumentTypeError, TypeError, ValueError) as error:
            return f"{value!r}: {error}"
        return None if parsed == value and type(parsed) is type(value) else f"{value!r}, where the flag gives {parsed!r}"


def option(flag: str, help: str, default: Any = None, **details: Any) -> Any:
    """A settings field that is also a command-line flag (`Option`): its default, help, type and choices."""
    described = Option(flag, help, default, **details)
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"option": described})
    return field(default=default, metadata={"option": described})


def seed_suffix(seed: int) -> str:
    """What a repeat's run and figure names end with (`-seed<s>`), when an experiment repeats over seeds."""
    return f"-seed{seed}"


@dataclass(frozen=True)
class Settings:
    """What every invocation takes; an experiment's settings class composes the groups below that it takes and adds
    its own options as fields.

    Built by `hw1.cli.flags.parse_settings` (defaults, then the profile, then the flags given). A flag of a group the
    class does not compose is refused with the group's `REASON` (or the class's `REASON`, or `REFUSED[flag]`); `unused`
    names options the class has but the other values make pointless (e.g. MNIST flags with `--task sinc`), which hold
    None and are not recorded. `run_settings()` gives one run's settings (`RunSettings`).
    """

    REASON: ClassVar[str] = ""  # why this class's experiment takes none of the groups it does not compose
    REFUSED: ClassVar[Mapping[str, str]] = {}  # why it takes no --<flag>, where more can be said than the group says

    profile: str = option("--profile", "named preset: full = the assignment's settings, quick = CPU-sized, smoke = seconds",
                          "full", choices=PROFILES)
    accelerator: str = option("--accelerator", "hardware, as Lightning's Trainer", "auto",
                              choices=("cpu", "gpu", "cuda", "mps", "auto"))
    seed: int = option("--seed", "seed of the initial weights and the batch order (multi-run experiments: --seed,"
                       " --seed+1, ...)", 0, type=seed_value)
    out_dir: str = option("--out-dir", "output folder for logs, checkpoints, figures and summary.json", "lightning_logs")
    verbose: bool = option("--verbose", "print everything: Lightning's start-up lines, model summaries and evaluation"
                           " bars, third-party warnings, and the experiment's details inside run_all.py (default: one"
                           " line per finished run)", False, switch=True)
    unused: frozenset[str] = frozenset()

    @classmethod
    def options(cls) -> tuple[Option, ...]:
        """The command-line flags of these settings."""
        return tuple(f.metadata["option"] for f in fields(cls) if "option" in f.metadata)

    def run_settings(self, **changes: Any) -> RunSettings:
        """One run's settings: these, with `changes`; the options of groups this class does not compose hold None."""
        values = {f.name: getattr(self, f.name, None) for f in fields(RunSettings) if f.name != "unused"}
        return RunSettings(**{**values, **changes}, unused=self.unused)

    def repeats(self) -> list[tuple[str, RunSettings]]:
        """Each repeat's run-name suffix and settings: one, unsuffixed, for settings that do not repeat (`Repeats`)."""
        return [("", self.run_settings())]

    def recorded(self) -> dict[str, Any]:
        """The settings as summary.json records them: every option the experiment uses, by name."""
        return {option.dest: getattr(self, option.dest) for option in self.options()
                if option.dest not in self.unused and option.dest not in NOT_RECORDED}  # fmt: skip


@dataclass(frozen=True)
class Resumable(Settings):
    """Continuing an interrupted invocation from its checkpoints."""

    resume: bool = option("--resume", "continue the latest unfinished result folder (else the latest), each run from its"
                          " last.ckpt, up to --max-epochs; refused under other settings than the checkpoint's"
                          " (--max-epochs, --eval-every and --data-dir may change)", False, switch=True)


@dataclass(frozen=True)
class Trainer(Settings):
    """How Lightning's Trainer runs: devices, precision, epochs, evaluation, logging and checkpoints."""

    devices: str = option("--devices", "devices to use, as Lightning's Trainer (a count, -1, a list like 0,1, or auto)",
                          "auto", type=devices_value)
    num_nodes: int = option("--num-nodes", "machines the run spans, as Lightning's Trainer (start it on each with torchrun"
                            " or srun; docs/scaling-out.md)", 1, type=positive_int)
    strategy: str = option("--strategy", "distribution strategy, as Lightning's Trainer (auto, ddp, ddp_spawn, fsdp, ...)",
                           "auto", type=strategy_value)
    precision: str = option("--precision", "numeric precision, as Lightning's Trainer", "32-true", choices=PRECISIONS)
    max_epochs: int = option("--max-epochs", "epochs to train (with --target-loss: at most)", 10, type=positive_int)
    eval_every: int = option("--eval-every", "evaluate on the test set for the test/ curves every this many epochs (the"
                             " final test numbers are always measured)", 1, type=positive_int)  # fmt: skip
    deterministic: bool = option("--deterministic", "use deterministic algorithms only (slower; same seed, same"
                                 " numbers)", False, switch=True)
    log_every_n_steps: int = option("--log-every-n-steps", "write the per-step training loss every this many steps", 1,
                                    type=positive_int)
    checkpoint_every: int = option("--checkpoint-every", "keep a weights-only checkpoint every this many epochs (0: only"
                                   " last.ckpt)", 1, type=non_negative_int)
    steps_per_chunk: int | None = option("--steps-per-chunk", "optimizer steps per Lightning training step, on"
                                         " consecutive minibatches (1: one, as Lightning does by default; the numbers"
                                         " do not depend on it); default: as many as take about 0.1 s, timed at the"
                                         " start, at most an epoch's", type=positive_int)


@dataclass(frozen=True)
class Target(Settings):
    """Training each run to a loss target instead of a fixed length."""

    target_loss: float | None = option("--target-loss", "train until the training loss (an eval-mode pass over the"
                                       " training set at the end of an epoch) is below this, with --max-epochs as the"
                                       " cap; summary.json records whether and at which epoch and step it was reached"
                                       " (default: no target)", type=positive_float)  # fmt: skip
    plateau_epochs: int | None = option("--plateau-epochs", "with --target-loss: also stop, as trained, once the epoch's"
                                        " mean training loss has not fallen 1% below its best for this many epochs (for"
                                        " nets too small to reach the target; 0: off)", 0, type=non_negative_int)


@dataclass(frozen=True)
class Optimizer(Settings):
    """The optimizer every run trains with (its learning rate is `LearningRate`)."""

    optimizer: str = option("--optimizer", "optimizer", "sgd", choices=("sgd", "adam", "rmsprop"))
    lr_schedule: str = option("--lr-schedule", "learning-rate schedule: constant, or cosine decay to 0 over --max-epochs",
                              "constant", choices=("constant", "cosine"))
    momentum: float = option("--momentum", "momentum (sgd and rmsprop only)", 0.0, type=non_negative_float)
    weight_decay: float = option("--weight-decay", "L2 weight decay", 0.0, type=non_negative_float)


@dataclass(frozen=True)
class LearningRate(Settings):
    """One learning rate for every run."""

    lr: float = option("--lr", "learning rate", 0.01, type=positive_float)


@dataclass(frozen=True)
class BatchSize(Settings):
    """One batch size for every run."""

    batch_size: int | None = option("--batch-size", "training minibatch size", 64, type=positive_int)


@dataclass(frozen=True)
class Repeats(Settings):
    """Repeating every run over seeds of its initial weights and batch order."""

    seeds: int = option("--seeds", "repeat every run with the seeds --seed, --seed+1, ... of its initial weights and"
                        " batch order (the data seed stays); figures draw the mean with a band or error bars, the"
                        " report gives mean ± sd and judges each seed", 1, type=positive_int)

    def repeats(self) -> list[tuple[str, RunSettings]]:
        """Each repeat's run-name suffix (`-seed<s>`; none with one seed) and settings, seeds --seed, --seed+1, ..."""
        if not self.seeds or self.seeds == 1:  # None in a RunSettings whose experiment does not repeat
            return [("", self.run_settings())]
        return [(seed_suffix(self.seed + index), self.run_settings(seed=self.seed + index)) for index in range(self.seeds)]


@dataclass(frozen=True)
class MnistFiles(Settings):
    """Where the MNIST files are read from."""

    data_dir: str | None = option("--data-dir", "folder holding MNIST/raw/*.gz (default: $HW1_DATA_DIR, else ./data)")
    download: bool = option("--download", "download MNIST through torchvision when its files are missing", True,
                            switch=True)


@dataclass(frozen=True)
class MnistTraining(MnistFiles):
    """The MNIST training set a run draws: its subset and the data seed (which also corrupts labels)."""

    data_seed: int | None = option("--data-seed", "seed of the data: the training subset and the label corruption,"
                                   " shared by every run of an experiment (default: --seed)", None, type=seed_value)
    train_subset: int | None = option("--train-subset", "train on a random subset of this many training images, drawn by"
                                      " --data-seed (default: all)", type=positive_int)


@dataclass(frozen=True)
class Sweep(Resumable):
    """A plan of independent runs that job-array tasks can share (docs/scaling-out.md)."""

    name: str | None = option("--name", "a result folder <out-dir>/<experiment>/NAME shared by the invocations of one"
                              " sweep (job-array tasks), instead of a new version_N", type=folder_name)
    run_index: list[int] | None = option("--run-index", "train only these runs of the sweep, by position (--list-runs"
                                         " shows them), into --name; e.g. $SLURM_ARRAY_TASK_ID", type=non_negative_int,
                                         nargs="+")  # fmt: skip
    collect: bool = option("--collect", "train nothing: build the summary, figures and report entry of sweep --name"
                           " from its finished runs (names the missing ones)", False, switch=True)
    list_runs: bool = option("--list-runs", "print the sweep's runs with their positions and stop", False, switch=True)
    jobs: int | str = option("--jobs", "train up to this many of the sweep's runs at once, each a child process on this"
                             " machine with this process's threads shared out (on one GPU they share it); the"
                             " summary's numbers are those of one by one up to float32's last bits (logs: <result"
                             " folder>/.jobs/); auto: one job per 2 torch threads on a CPU (1 on 2 cores), 1 on a"
                             " GPU and in the smoke profile (docs/scaling-out.md)", AUTO, type=jobs_value)


@dataclass(frozen=True)
class MnistSweep(Trainer, Target, Optimizer, LearningRate, Repeats, MnistTraining, Sweep):
    """MNIST runs of one optimizer and learning rate, trained to a target, repeated over seeds, as a sweep of
    independent runs: what most experiments take (with `BatchSize`, or `BatchSizeSweep` for one run per batch size)."""


@dataclass(frozen=True)
class BatchSizeSweep(MnistSweep):
    """An MNIST sweep of one run per batch size (and seed): `--batch-sizes` instead of `--batch-size`."""

    REFUSED: ClassVar[Mapping[str, str]] = {"batch_size": "this experiment sweeps batch sizes; use --batch-sizes"}

    batch_sizes: list[int] = option("--batch-sizes", "one run per batch size", [16, 64, 256, 1024, 4096],
                                    type=positive_int, nargs="+")


GROUP_REASONS: dict[type[Settings], str] = {  # why an experiment that does not compose a group takes none of its flags
    Resumable: "it trains nothing to resume",
    Trainer: "it trains no Lightning run",
    Target: "it compares runs of a fixed length; set it with --max-epochs",
    Optimizer: "it trains with no optimizer of its own",
    LearningRate: "it sets each run's learning rate itself",
    BatchSize: "it sets each run's batch size itself",
    Repeats: "it does not repeat its runs over seeds",
    MnistFiles: "it does not read MNIST",
    MnistTraining: "it trains on no MNIST subset of its own",
    Sweep: "it is not a sweep of independent runs",
}


@dataclass(frozen=True)
class RunSettings(Trainer, Target, Optimizer, LearningRate, BatchSize, Repeats, MnistTraining, Sweep):
    """One run's settings, every group's options (None where its experiment takes no such group); what the training
    path, the builders and a sweep's planned runs use. A variant (another batch size or seed) is
    `dataclasses.replace(run_settings, ...)`."""


def group_of(dest: str) -> type[Settings]:
    """The group whose option `dest` is (the most specific one)."""
    return next(group for group in GROUP_REASONS if dest in vars(group).get("__annotations__", {}))


def flag_of(dest: str) -> str:
    """The command-line flag of the option named `dest` (`batch_size` → `--batch-size`)."""
    return "--" + dest.replace("_", "-")


def refusal(settings_class: type[Settings], dest: str) -> str | None:
    """Why `settings_class` takes no --<dest> (None: it takes it): its own words, else those of the most general group
    of that option it lacks (MNIST files rather than the MNIST subset, say)."""
    if dest in {f.name for f in fields(settings_class)}:
        return None
    lacking = [group for group in group_of(dest).__mro__ if group in GROUP_REASONS and not issubclass(settings_class, group)]
    return settings_class.REFUSED.get(dest) or settings_class.REASON or GROUP_REASONS[lacking[-1]]


RUN_OPTIONS: tuple[Option, ...] = RunSettings.options()
SWEEP_ACTIONS = ("run_index", "collect", "list_runs")  # what an invocation does with a sweep, not how runs train
NOT_RECORDED = (*SWEEP_ACTIONS, "jobs", "verbose")  # how one invocation runs and prints, not what its runs train with
SWEEP_OPTIONS = ("name", *SWEEP_ACTIONS)
