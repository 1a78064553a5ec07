"""Command-line flags shared by every experiment, named profiles of defaults, and the error-to-exit-code wrapper."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from hw1.runs.errors import TrainingDiverged, UsageError
from hw1.runs.settings import (
    Option,
    Profiles,
    RunSettings,
)


class OneLineErrorParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (no usage block) and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _describe_default(option: Option, profiles: Profiles) -> str:
    full = profiles.get("full", {}).get(option.dest, option.default)
    parts = [_format(full)]
    for name in ("quick", "smoke"):
        value = profiles.get(name, {}).get(option.dest, full)
        if value != full:
            parts.append(f"{name}: {_format(value)}")
    return "; ".join(parts)


def _format(value: Any) -> str:
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value) or "none"
    return str(value)


Unused = Mapping[str, str] | Callable[[dict[str, Any]], Mapping[str, str]]


def add_options(
    parser: argparse.ArgumentParser, options: Sequence[Option], profiles: Profiles | None = None, hidden: bool = False
) -> None:
    """Add `options` to `parser`, each defaulting to None (not given); with `profiles`, the help names each default."""
    for option in options:
        help_text = argparse.SUPPRESS if hidden else option.help.replace("%", "%%")  # argparse %-formats help
        if profiles is not None and not hidden and (
            option.default is not None or any(option.dest in preset for preset in profiles.values())
        ):
            prefix = "full profile: " if option.dest != "profile" else ""
            help_text += f" (default: {prefix}{_describe_default(option, profiles)})"
        if option.switch:
            parser.add_argument(option.flag, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            parser.add_argument(
                option.flag, type=option.type or str, choices=option.choices, nargs=option.nargs, default=None,
                help=help_text, metavar=None if option.choices else option.dest.upper(),
            )  # fmt: skip


def flag_arguments(option: Option, value: Any) -> list[str]:
    """The command-line words that give `option` the parsed `value` (to forward it to another entry point)."""
    if option.switch:
        return [option.flag if value else f"--no-{option.flag[2:]}"]
    return [option.flag, *(str(v) for v in value)] if isinstance(value, list) else [f"{option.flag}={value}"]


SettingsT = TypeVar("SettingsT", bound=RunSettings)


def parse_settings(
    settings_class: type[SettingsT],
    description: str,
    profiles: Profiles,
    argv: Sequence[str] | None = None,
    unused: Unused = {},  # noqa: B006 - read only
) -> SettingsT:
    """Settings = option defaults, overridden by the chosen profile, overridden by flags given explicitly.

    `unused` maps the shared options an experiment has no use for (or a function of the other values giving them) to
    what to use instead: they are left out of `--help`, hold None, and giving one is refused with exit code 2.
    """
    parser = OneLineErrorParser(description=description)
    options = settings_class.options()
    never_used = unused if isinstance(unused, Mapping) else {}
    add_options(parser, [option for option in options if option.dest not in never_used], profiles)
    add_options(parser, [option for option in options if option.dest in never_used], hidden=True)
    args = vars(parser.parse_args(argv))
    profile = args["profile"] or "full"
    values: dict[str, Any] = {option.dest: option.default for option in options}
    values.update(profiles.get(profile, {}))
    values.update({key: value for key, value in args.items() if value is not None})
    values["profile"] = profile
    if values.get("data_seed") is None:
        values["data_seed"] = values["seed"]
    refused = unused_options(unused, values)
    for dest, instead in refused.items():
        if args.get(dest) is not None:
            parser.error(f"--{dest.replace('_', '-')} has no effect here: {instead}")
        values[dest] = None
    return settings_class(**values, unused=frozenset(refused))


def unused_options(unused: Unused, values: dict[str, Any]) -> Mapping[str, str]:
    """The shared options an experiment has no use for with these settings, each with what to use instead."""
    return unused(values) if callable(unused) else unused


def run_cli(main: Callable[[], object]) -> None:
    """Run an entry point; bad input becomes one `error:` line on stderr and exit code 2, a diverged training run one
    line and exit code 3, without a traceback."""
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    try:
        main()
    except (UsageError, MisconfigurationException, TrainingDiverged) as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"error: {message}", file=sys.stderr)
        sys.exit(3 if isinstance(error, TrainingDiverged) else 2)
    finally:
        close_process_group()


def close_process_group() -> None:
    """Tear down DDP's process group, which Lightning leaves open; left to interpreter exit, gloo can abort."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
