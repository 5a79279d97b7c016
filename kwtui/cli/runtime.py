"""How a CLI command runs core work: a renderer for its events, Ctrl-C handling, one-line errors, exit codes.

Shared by every command module (main.py, data_cmds.py, device_cmds.py); it imports none of them.
"""

from __future__ import annotations

import os
import signal
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import typer

from kwtui.core.errors import ExitCode, KwtuiError
from kwtui.core.events import CancelToken


def fail(message: str, code: ExitCode) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(int(code))


@contextmanager
def graceful_interrupt() -> Iterator[CancelToken]:
    """First Ctrl-C asks the running stage to stop cleanly; a second one aborts at once."""
    cancel = CancelToken()

    def on_sigint(signum: int, frame: Any) -> None:
        if cancel.cancelled:
            raise KeyboardInterrupt
        cancel.cancel()
        typer.echo("\nstopping after the current step (Ctrl-C again to abort)...", err=True)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield cancel
    finally:
        # once stopping, a further Ctrl-C during clean-up exits at once with 130 (not click's "Aborted!", exit 1)
        signal.signal(signal.SIGINT, _exit_interrupted if cancel.cancelled else previous)


def _exit_interrupted(signum: int, frame: Any) -> None:
    os._exit(int(ExitCode.INTERRUPTED))  # files are written atomically: nothing half-done is left by this


def run_with_events(json_output: bool, work: Callable[[Any, CancelToken], Any]) -> Any:
    """Run `work(report, cancel)` with a renderer; turn KwtuiError into a one-line message and exit code."""
    from kwtui.cli.render import make_renderer

    renderer = make_renderer(json_output)
    try:
        with graceful_interrupt() as cancel:
            return work(renderer, cancel)
    except KwtuiError as exc:
        renderer.close()
        fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        renderer.close()
        fail(
            "interrupted; finished files are kept, re-run the same command to resume",
            ExitCode.INTERRUPTED,
        )
    finally:
        renderer.close()
