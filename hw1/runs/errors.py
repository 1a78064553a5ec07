"""The exception types that command-line entry points turn into a one-line message and a non-zero exit code."""


class UsageError(Exception):
    """Bad input: the message names the problem and how to fix it (exit code 2)."""


class RunFailed(Exception):
    """A run started as a child process failed: the message names it and its log (exit code 1)."""


class TrainingDiverged(Exception):
    """The training loss became non-finite: the message names where and what to try (exit code 3)."""
