"""Errors with exit codes: the CLI prints their message as one line, never a traceback."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILURE = 1  # something went wrong during work
    USAGE = 2  # bad preset, missing dataset, bad argument
    INTERRUPTED = 130  # Ctrl-C / cancelled


class KwtuiError(Exception):
    """A failure the user can act on. str(error) is the one-line message."""

    exit_code: ExitCode = ExitCode.FAILURE


class UserError(KwtuiError):
    """Bad input: preset, path, argument. Exit code 2."""

    exit_code = ExitCode.USAGE


class Cancelled(KwtuiError):
    """The user cancelled (Ctrl-C, wizard cancel button). Exit code 130."""

    exit_code = ExitCode.INTERRUPTED

    def __init__(self, message: str = "cancelled") -> None:
        super().__init__(message)
