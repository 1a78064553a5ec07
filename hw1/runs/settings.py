"""An experiment's settings: a frozen dataclass of the options every invocation takes, the sub-configs (`Group`) it
holds as fields and its own options; every option is also a command-line flag (`Option`), under its own name."""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Self, TypeVar

from hw1.runs.errors import UsageError

PROFILES = ("full", "quick", "smoke")


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
    default_from: str | None = None  # an option whose value this one takes when neither a profile nor a flag sets it

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


def lr_option() -> Any:
    return option("--lr", "learning rate", 0.01, type=positive_float)


def batch_size_option(default: int | None, unset: str = "") -> Any:
    """--batch-size; `unset` says what a run does without one (default None)."""
    return option("--batch-size", "training minibatch size" + (f" (default: {unset})" if unset else ""), default,
                  type=positive_int)


def batch_sizes_option() -> Any:
    return option("--batch-sizes", "one run per batch size", [16, 64, 256, 1024, 4096], type=positive_int, nargs="+")


def resume_option() -> Any:
    return option("--resume", "continue the latest unfinished result folder (else the latest), each run from its"
                  " last.ckpt, up to --max-epochs; refused under other settings than the checkpoint's (--max-epochs,"
                  " --eval-every and --data-dir may change)", False, switch=True)  # fmt: skip


@dataclass(frozen=True)
class Group:
    """A sub-config: options that reach one part of the code together, validated once, when it is built."""

    REASON: ClassVar[str] = ""  # why an experiment that holds no such group takes none of its flags

    @classmethod
    def options(cls) -> tuple[Option, ...]:
        return tuple(f.metadata["option"] for f in fields(cls) if "option" in f.metadata)


@dataclass(frozen=True)
class TrainerConfig(Group):
    """How Lightning's Trainer runs: devices, precision, epochs, evaluation, logging and checkpoints."""

    REASON: ClassVar[str] = "it trains no Lightning run"

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
class TargetConfig(Group):
    """Training each run to a loss target instead of a fixed length."""

    REASON: ClassVar[str] = "it compares runs of a fixed length; set it with --max-epochs"

    target_loss: float | None = option("--target-loss", "train until the training loss (an eval-mode pass over the"
                                       " training set at the end of an epoch) is below this, with --max-epochs as the"
                                       " cap; summary.json records whether and at which epoch and step it was reached"
                                       " (default: no target)", type=positive_float)  # fmt: skip
    plateau_epochs: int = option("--plateau-epochs", "with --target-loss: also stop, as trained, once the epoch's mean"
                                 " training loss has not fallen 1% below its best for this many epochs (for nets too"
                                 " small to reach the target; 0: off)", 0, type=non_negative_int)  # fmt: skip


OPTIMIZERS_WITH_MOMENTUM = ("sgd", "rmsprop")


def momentum_problem(optimizer: str, momentum: float) -> str | None:
    """Why this optimizer cannot take this momentum, else None."""
    if momentum and optimizer not in OPTIMIZERS_WITH_MOMENTUM:
        return f"--momentum applies to sgd and rmsprop, not {optimizer}; leave it out or pass --momentum 0"
    return None


@dataclass(frozen=True)
class OptimizerConfig(Group):
    """The optimizer every run trains with, and its learning rate."""

    REASON: ClassVar[str] = "it trains with no optimizer of its own"

    optimizer: str = option("--optimizer", "optimizer", "sgd", choices=("sgd", "adam", "rmsprop"))
    lr: float = lr_option()
    lr_schedule: str = option("--lr-schedule", "learning-rate schedule: constant, or cosine decay to 0 over --max-epochs",
                              "constant", choices=("constant", "cosine"))
    momentum: float = option("--momentum", "momentum (sgd and rmsprop only)", 0.0, type=non_negative_float)
    weight_decay: float = option("--weight-decay", "L2 weight decay", 0.0, type=non_negative_float)

    def __post_init__(self) -> None:
        if (problem := momentum_problem(self.optimizer, self.momentum)) is not None:
            raise UsageError(problem)


@dataclass(frozen=True)
class BatchSize(Group):
    """One minibatch size for every MNIST run."""

    REASON: ClassVar[str] = "it sets each run's batch size itself"

    batch_size: int = batch_size_option(64)


@dataclass(frozen=True)
class Repeats(Group):
    """Repeating every run over seeds of its initial weights and batch order."""

    REASON: ClassVar[str] = "it does not repeat its runs over seeds"

    seeds: int = option("--seeds", "repeat every run with the seeds --seed, --seed+1, ... of its initial weights and"
                        " batch order (the data seed stays); figures draw the mean with a band or error bars, the"
                        " report gives mean ± sd and judges each seed", 1, type=positive_int)


@dataclass(frozen=True)
class MnistFiles(Group):
    """Where the MNIST files are read from."""

    REASON: ClassVar[str] = "it does not read MNIST"

    data_dir: str | None = option("--data-dir", "folder holding MNIST/raw/*.gz (default: $HW1_DATA_DIR, else ./data)")
    download: bool = option("--download", "download MNIST through torchvision when its files are missing", True,
                            switch=True)


@dataclass(frozen=True)
class MnistTraining(MnistFiles):
    """The MNIST training set a run draws: the files, the subset and the data seed (which also corrupts labels)."""

    data_seed: int | None = option("--data-seed", "seed of the data: the training subset and the label corruption,"
                                   " shared by every run of an experiment (default: --seed)", None, type=seed_value,
                                   default_from="seed")  # fmt: skip
    train_subset: int | None = option("--train-subset", "train on a random subset of this many training images, drawn by"
                                      " --data-seed (default: all)", type=positive_int)


@dataclass(frozen=True)
class SweepConfig(Group):
    """A plan of independent runs that job-array tasks can share, and resumed (docs/scaling-out.md)."""

    REASON: ClassVar[str] = "it is not a sweep of independent runs"

    resume: bool = resume_option()
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


GROUPS: tuple[type[Group], ...] = (TrainerConfig, TargetConfig, OptimizerConfig, BatchSize, Repeats, MnistFiles,
                                   MnistTraining, SweepConfig)  # fmt: skip
GroupT = TypeVar("GroupT", bound=Group)


def sub_config(kind: type[GroupT]) -> GroupT:
    """A settings field holding the sub-config `kind` (its options become the experiment's flags)."""
    return field(default_factory=kind, metadata={"group": kind})


@dataclass(frozen=True)
class Settings:
    """What every invocation takes; an experiment's settings class adds the sub-configs it holds (`sub_config(...)`) and
    its own options as fields.

    Built by `hw1.cli.flags.parse_settings` (defaults, then the profile, then the flags given). Every option held is a
    flag, under its own name, except those `REFUSED` names (the experiment sets them per run). A flag of a group the
    class does not hold is refused with the class's `REASON`, else the group's `REASON`; `unused` names options the
    class holds but the other values make pointless (e.g. MNIST flags with `--task sinc`), which are not recorded.
    """

    REASON: ClassVar[str] = ""  # why this class's experiment takes none of the groups it does not hold
    REFUSED: ClassVar[Mapping[str, str]] = {}  # options held but set per run, not by a flag, each with why

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
    def groups(cls) -> dict[str, type[Group]]:
        """The sub-configs these settings hold, by field name."""
        return {f.name: f.metadata["group"] for f in fields(cls) if "group" in f.metadata}

    @classmethod
    def held_options(cls) -> tuple[Option, ...]:
        """Every option these settings hold a value of, their own and their groups', in field order."""
        held: list[Option] = []
        for f in fields(cls):
            held += [f.metadata["option"]] if "option" in f.metadata else list(f.metadata.get("group", Group).options())
        return tuple(held)

    @classmethod
    def options(cls) -> tuple[Option, ...]:
        """The command-line flags of these settings: every option held but those set per run (`REFUSED`)."""
        return tuple(option for option in cls.held_options() if option.dest not in cls.REFUSED)

    def values(self) -> dict[str, Any]:
        """Every option's value, by name (the groups' flattened)."""
        values: dict[str, Any] = {}
        for f in fields(self):
            if "option" in f.metadata:
                values[f.name] = getattr(self, f.name)
            elif "group" in f.metadata:
                held = getattr(self, f.name)
                values |= {option.dest: getattr(held, option.dest) for option in held.options()}
        return values

    @classmethod
    def from_values(cls, values: Mapping[str, Any], unused: frozenset[str] = frozenset()) -> Self:
        """Settings from option values by name; each group is built (and so validated) from its options' values."""
        own = {f.name: values[f.name] for f in fields(cls) if "option" in f.metadata and f.name in values}
        groups: dict[str, Any] = {name: kind(**{o.dest: values[o.dest] for o in kind.options() if o.dest in values})
                                  for name, kind in cls.groups().items()}  # fmt: skip
        return cls(**own, **groups, unused=unused)

    def with_values(self, **changes: Any) -> Self:
        """These settings with some option values changed, by name (a run's batch size, seed or learning rate)."""
        unknown = sorted(set(changes) - {option.dest for option in self.held_options()})
        if unknown:
            raise ValueError(f"{type(self).__qualname__} holds no option {', '.join(unknown)}")
        return self.from_values({**self.values(), **changes}, self.unused)

    @classmethod
    def preset(cls, profile: str, **values: Any) -> Self:
        """A profile: the defaults with `values`, each checked as its flag checks it, so that a profile outside
        `PROFILES`, a flag the class does not take or a value the flag could not give is a ValueError at import."""
        owner = f"{cls.__module__}.{cls.__qualname__}"
        if profile not in PROFILES:
            raise ValueError(f"{owner}: profile {profile!r} is not one of {', '.join(PROFILES)}")
        options = {option.dest: option for option in cls.options()}
        for dest, value in values.items():
            if dest not in options:
                raise ValueError(f"{owner}: profile {profile} sets {dest}, which the settings have no option for")
            if (problem := options[dest].problem(value)) is not None:
                raise ValueError(f"{owner}: profile {profile} sets {flag_of(dest)} to {problem}")
        return cls().with_values(profile=profile, **values)

    def holding(self, kind: type[GroupT]) -> GroupT | None:
        """The sub-config of type `kind` (or a subclass) these settings hold, else None."""
        return next((getattr(self, name) for name, held in self.groups().items() if issubclass(held, kind)), None)

    def held(self, kind: type[GroupT]) -> GroupT:
        """The sub-config of type `kind` these settings hold; a TypeError for settings that hold none (a caller's
        mistake, e.g. training a run of settings without a `TrainerConfig`)."""
        if (found := self.holding(kind)) is None:
            raise TypeError(f"{type(self).__qualname__} holds no {kind.__name__}")
        return found

    def repeated(self, seeds: int) -> list[tuple[str, Self]]:
        """Each repeat's run-name suffix (`-seed<s>`; none with one seed) and settings: seeds --seed, --seed+1, ... of
        the initial weights and batch order and, where an MNIST training set is held, data seeds --data-seed,
        --data-seed+1, ... of its subset and label corruption, so that each repeat draws its own data."""
        if seeds == 1:
            return [("", self)]
        data = self.holding(MnistTraining)
        data_seed = None if data is None else data.data_seed
        return [(seed_suffix(self.seed + index), self.with_values(seed=self.seed + index) if data_seed is None
                 else self.with_values(seed=self.seed + index, data_seed=data_seed + index)) for index in range(seeds)]

    def recorded(self) -> dict[str, Any]:
        """The settings as summary.json records them: every flag the experiment uses, by name."""
        return self._used(self.options())

    def trained_with(self) -> dict[str, Any]:
        """What a run of these settings trains with: `recorded` and the options set per run (`REFUSED`)."""
        return self._used(self.held_options())

    def _used(self, options: tuple[Option, ...]) -> dict[str, Any]:
        values = self.values()
        return {option.dest: values[option.dest] for option in options
                if option.dest not in self.unused and option.dest not in NOT_RECORDED}  # fmt: skip


@dataclass(frozen=True)
class MnistSweep(Settings):
    """MNIST runs of one optimizer and batch size, trained to a target, repeated over seeds, as a sweep of independent
    runs: what most experiments hold."""

    trainer: TrainerConfig = sub_config(TrainerConfig)
    target: TargetConfig = sub_config(TargetConfig)
    optim: OptimizerConfig = sub_config(OptimizerConfig)
    batch: BatchSize = sub_config(BatchSize)
    repeat: Repeats = sub_config(Repeats)
    data: MnistTraining = sub_config(MnistTraining)
    sweep: SweepConfig = sub_config(SweepConfig)


@dataclass(frozen=True)
class BatchSizeSweep(MnistSweep):
    """An MNIST sweep of one run per batch size (and seed): `--batch-sizes` instead of `--batch-size`."""

    REFUSED: ClassVar[Mapping[str, str]] = {"batch_size": "this experiment sweeps batch sizes; use --batch-sizes"}

    batch_sizes: list[int] = batch_sizes_option()


def _shared_options() -> tuple[Option, ...]:
    shared: dict[str, Option] = {}
    for option in (*Settings.options(), *(option for kind in GROUPS for option in kind.options())):
        shared.setdefault(option.dest, option)  # MnistFiles and MnistTraining share --data-dir and --download
    return tuple(shared.values())


RUN_OPTIONS: tuple[Option, ...] = _shared_options()  # every flag of the base settings and the sub-configs


def group_of(dest: str) -> type[Group]:
    """The first group (in `GROUPS`) that holds the option `dest`."""
    return next(kind for kind in GROUPS if dest in {option.dest for option in kind.options()})


def flag_of(dest: str) -> str:
    """The command-line flag of the option named `dest` (`batch_size` → `--batch-size`)."""
    return "--" + dest.replace("_", "-")


def refusal(settings_class: type[Settings], dest: str) -> str | None:
    """Why `settings_class` takes no --<dest> (None: it takes it): the class's words for that option, else for every
    group it does not hold, else the reason of the group that holds the option."""
    if dest in {option.dest for option in settings_class.options()}:
        return None
    return settings_class.REFUSED.get(dest) or settings_class.REASON or group_of(dest).REASON


SWEEP_ACTIONS = ("run_index", "collect", "list_runs")  # what an invocation does with a sweep, not how runs train
NOT_RECORDED = (*SWEEP_ACTIONS, "jobs", "verbose")  # how one invocation runs and prints, not what its runs train with
SWEEP_OPTIONS = ("name", *SWEEP_ACTIONS)
