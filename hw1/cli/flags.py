"""Command-line flags shared by every experiment, named profiles of defaults, and the error-to-exit-code wrapper."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from hw1.runs.errors import RunFailed, TrainingDiverged, UsageError
from hw1.runs.settings import RUN_OPTIONS, Option, Settings, flag_of, refusal

Profiles = Mapping[str, Settings]  # an experiment's presets by profile name (`Settings.preset`)


class FlagRefused(UsageError):
    """A flag given that these settings take but the other values make pointless."""


class OneLineErrorParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (no usage block) and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _describe_default(option: Option, presets: Mapping[str, Mapping[str, Any]]) -> str:
    full = presets["full"][option.dest] if "full" in presets else option.default
    parts = [_format(full)]
    for name in ("quick", "smoke"):
        value = presets[name][option.dest] if name in presets else full
        if value != full:
            parts.append(f"{name}: {_format(value)}")
    return "; ".join(parts)


def _format(value: Any) -> str:
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value) or "none"
    return str(value)


Refuse = Callable[[dict[str, Any]], Mapping[str, str]]  # options the other values make pointless, each with why


def add_options(
    parser: argparse.ArgumentParser, options: Sequence[Option], profiles: Profiles | None = None, hidden: bool = False
) -> None:
    """Add `options` to `parser`, each defaulting to None (not given); with `profiles`, the help names each default."""
    presets = {name: preset.values() for name, preset in (profiles or {}).items()}  # each preset's values, once
    for option in options:
        help_text = argparse.SUPPRESS if hidden else option.help.replace("%", "%%")  # argparse %-formats help
        if profiles is not None and not hidden and (
            option.default is not None or any(values[option.dest] is not None for values in presets.values())
        ):
            prefix = "full profile: " if option.dest != "profile" else ""
            help_text += f" (default: {prefix}{_describe_default(option, presets)})"
        if option.switch:
            parser.add_argument(option.flag, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            parser.add_argument(
                option.flag, type=option.type or str, choices=option.choices, nargs=option.nargs, default=None,
                help=help_text, metavar=None if option.choices else option.dest.upper(),
            )  # fmt: skip


SettingsT = TypeVar("SettingsT", bound=Settings)


def parse_settings(
    settings_class: type[SettingsT],
    description: str,
    profiles: Profiles,
    argv: Sequence[str] | None = None,
    refuse: Refuse | None = None,
) -> SettingsT:
    """Settings from the command line: `build_settings` of the flags given. `--help` offers the class's options; a flag
    of a group the class does not compose is refused with exit code 2 and the reason (`refusal`)."""
    parser = OneLineErrorParser(description=description)
    taken = {option.dest for option in settings_class.options()}
    add_options(parser, settings_class.options(), profiles)
    add_options(parser, [option for option in RUN_OPTIONS if option.dest not in taken], hidden=True)
    args = vars(parser.parse_args(argv))
    for dest, value in args.items():
        if dest not in taken and value is not None:
            parser.error(f"{flag_of(dest)} has no effect here: {refusal(settings_class, dest)}")
    try:
        return build_settings(settings_class, profiles, {dest: args[dest] for dest in taken}, refuse)
    except FlagRefused as error:
        parser.error(str(error))
        raise


def build_settings(
    settings_class: type[SettingsT], profiles: Profiles, given: Mapping[str, Any], refuse: Refuse | None = None
) -> SettingsT:
    """Settings = the chosen profile's preset (`given["profile"]`, default full; the defaults where the experiment has
    none of that name), overridden by the values given (None: not given); an option declared to default from another
    (`Option.default_from`) takes that one's value when neither sets it. Options `refuse` names for these values are
    not recorded; giving one is a `FlagRefused`. A sub-config that refuses its values raises its UsageError.
    """
    profile = given.get("profile") or "full"
    preset = profiles[profile] if profile in profiles else settings_class().with_values(profile=profile)
    values = preset.values()
    values.update({key: value for key, value in given.items() if value is not None})
    for option in settings_class.held_options():
        if option.default_from is not None and values[option.dest] is None:
            values[option.dest] = values[option.default_from]
    refused = dict(refuse(values)) if refuse is not None else {}
    for dest, why in refused.items():
        if given.get(dest) is not None:
            raise FlagRefused(f"{flag_of(dest)} has no effect here: {why}")
    return settings_class.from_values(values, unused=frozenset(refused))


def run_cli(main: Callable[[], object]) -> None:
    """Run an entry point; bad input becomes one `error:` line on stderr and exit code 2, a diverged training run one
    line and exit code 3, a failed child run (`--jobs`) one line and exit code 1, without a traceback."""
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    try:
        main()
    except (UsageError, MisconfigurationException, TrainingDiverged, RunFailed) as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"error: {message}", file=sys.stderr)
        sys.exit(3 if isinstance(error, TrainingDiverged) else 1 if isinstance(error, RunFailed) else 2)
    finally:
        close_process_group()


def close_process_group() -> None:
    """Tear down DDP's process group, which Lightning leaves open; left to interpreter exit, gloo can abort."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
