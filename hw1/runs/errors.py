"""The exception types that command-line entry points turn into a one-line message and a non-zero exit code."""


class UsageError(Exception):
    """Bad input: the message names the problem and how to fix it (exit code 2)."""


class TrainingDiverged(Exception):
    """The training loss became non-finite: the message names where and what to try (exit code 3)."""
