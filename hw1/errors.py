"""The one exception type that command-line entry points turn into a one-line message and exit code 2."""


class UsageError(Exception):
    """Bad input: the message names the problem and how to fix it."""
