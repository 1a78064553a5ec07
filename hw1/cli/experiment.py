"""An experiment as its entry point, run_all.py and the report see it: a name, a settings class, profiles, a run."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic

from hw1.cli.flags import Refuse, SettingsT, build_settings, parse_settings
from hw1.reporting.verdicts import EXPECTATIONS, Expectation
from hw1.runs.settings import Profiles, flag_of, refusal

Announce = Callable[[str], None]  # called with each run's name as it starts (run_all.py's bar names it)


@dataclass(frozen=True)
class Experiment(Generic[SettingsT]):
    """One experiment: `run(settings, announce)` trains (or analyses) and writes its result folder."""

    name: str
    description: str
    settings: type[SettingsT]
    profiles: Profiles
    run: Callable[[SettingsT, Announce | None], dict[str, Any]]
    refuse: Refuse | None = None  # options that the other values make pointless (e.g. MNIST flags for a 1-D task)

    @property
    def expectation(self) -> Expectation | None:
        """What the literature expects and the rule that judges it (None: the experiment has no verdict)."""
        return EXPECTATIONS.get(self.name)

    def parse(self, argv: Sequence[str] | None = None) -> SettingsT:
        return parse_settings(self.settings, self.description, self.profiles, argv, self.refuse)

    def main(self, argv: Sequence[str] | None = None, announce: Announce | None = None) -> dict[str, Any]:
        """The entry point: settings from `argv` (default: the command line), then the run."""
        return self.run(self.parse(argv), announce)

    def settings_for(self, given: Mapping[str, Any]) -> tuple[SettingsT, dict[str, str]]:
        """Settings from values (e.g. run_all.py's flags) instead of a command line: those this experiment takes, and
        each of the others given with why it does not take it."""
        taken = {option.dest for option in self.settings.options()}
        left_out = {dest: str(refusal(self.settings, dest)) for dest, value in given.items()
                    if dest not in taken and value is not None}  # fmt: skip
        values = {dest: value for dest, value in given.items() if dest in taken}
        probe = build_settings(self.settings, self.profiles, {"profile": values.get("profile")}, self.refuse)
        left_out |= {dest: f"{flag_of(dest)} has no effect here" for dest in probe.unused
                     if values.get(dest) is not None}  # fmt: skip
        values = {dest: value for dest, value in values.items() if dest not in left_out}
        return build_settings(self.settings, self.profiles, values, self.refuse), left_out
