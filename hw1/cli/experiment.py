"""An experiment's whole contract as its entry point, run_all.py and the report see it: a name, a settings class,
profiles, a run, its question and rule (`Expectation`) and the settings its report section shows."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic

from hw1.cli.flags import Profiles, Refuse, SettingsT, build_settings, parse_settings
from hw1.reporting.verdicts import Expectation
from hw1.runs.settings import flag_of, refusal

Announce = Callable[[str], None]  # called with each run's name as it starts (run_all.py's bar names it)
SHARED_REPORT_SETTINGS = ("profile", "max_epochs", "batch_size", "optimizer", "lr", "lr_schedule", "momentum",
                          "train_subset", "seed", "seeds", "data_seed", "eval_every")  # fmt: skip


@dataclass(frozen=True)
class Experiment(Generic[SettingsT]):
    """One experiment: `presets` are its profiles (`Settings.preset`, one per profile name); `run(settings,
    announce)` trains (or analyses) and writes its result folder; `expectation` is
    what the literature expects and the rule that judges the summary (None: no verdict); `shown` the experiment's own
    settings that its report section shows, after the shared ones it takes (`SHARED_REPORT_SETTINGS`)."""

    name: str
    description: str
    settings: type[SettingsT]
    presets: Sequence[SettingsT]
    run: Callable[[SettingsT, Announce | None], dict[str, Any]]
    expectation: Expectation | None = None
    shown: tuple[str, ...] = ()
    refuse: Refuse | None = None  # options that the other values make pointless (e.g. MNIST flags for a 1-D task)
    profiles: Profiles = field(init=False)

    def __post_init__(self) -> None:
        dests = [option.dest for option in self.settings.held_options()]
        twice = sorted({dest for dest in dests if dests.count(dest) > 1})
        if twice:
            raise ValueError(f"experiment {self.name}: {self.settings.__qualname__} holds {', '.join(twice)} twice (in "
                             "two sub-configs, or in one and as its own option)")  # fmt: skip
        wrong = [preset for preset in self.presets if type(preset) is not self.settings]
        if wrong:
            kind, own = type(wrong[0]), self.settings
            raise ValueError(f"experiment {self.name}: a preset is an instance of {kind.__module__}.{kind.__qualname__},"
                             f" not its settings class {own.__module__}.{own.__qualname__}")  # fmt: skip
        names = [preset.profile for preset in self.presets]
        if len(set(names)) != len(names):
            raise ValueError(f"experiment {self.name}: two presets of one profile ({', '.join(names)})")
        object.__setattr__(self, "profiles", {preset.profile: preset for preset in self.presets})
        unknown = [name for name in self.shown if name not in self.option_names]
        if unknown:
            raise ValueError(f"experiment {self.name}: shown names {', '.join(unknown)}, which its settings class "
                             f"{self.settings.__name__} has no option for")  # fmt: skip

    @property
    def option_names(self) -> tuple[str, ...]:
        return tuple(option.dest for option in self.settings.options())

    @property
    def report_settings(self) -> tuple[str, ...]:
        """The settings the report's section shows (those the summary records a value for)."""
        taken = self.option_names
        return (*(name for name in SHARED_REPORT_SETTINGS if name in taken), *self.shown)

    def parse(self, argv: Sequence[str] | None = None) -> SettingsT:
        return parse_settings(self.settings, self.description, self.profiles, argv, self.refuse)

    def main(self, argv: Sequence[str] | None = None, announce: Announce | None = None) -> dict[str, Any]:
        """The entry point: settings from `argv` (default: the command line), then the run."""
        return self.run(self.parse(argv), announce)

    def settings_for(self, given: Mapping[str, Any]) -> tuple[SettingsT, dict[str, str]]:
        """Settings from values (e.g. run_all.py's flags) instead of a command line: those this experiment takes, and
        each of the others given with why it does not take it."""
        taken = set(self.option_names)
        left_out = {dest: str(refusal(self.settings, dest)) for dest, value in given.items()
                    if dest not in taken and value is not None}  # fmt: skip
        values = {dest: value for dest, value in given.items() if dest in taken}
        probe = build_settings(self.settings, self.profiles, {"profile": values.get("profile")}, self.refuse)
        left_out |= {dest: f"{flag_of(dest)} has no effect here" for dest in probe.unused
                     if values.get(dest) is not None}  # fmt: skip
        values = {dest: value for dest, value in values.items() if dest not in left_out}
        return build_settings(self.settings, self.profiles, values, self.refuse), left_out
