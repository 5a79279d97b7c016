"""The `kwtui` command's entry point. Ctrl-C while Python is still loading kwtui's modules (typer, rich, numpy:
a few hundred milliseconds, seconds on a loaded machine) printed a KeyboardInterrupt traceback from deep inside an
import; from here on it is one line and exit 130, as anywhere else. SIGINT is taken before anything else loads."""

import signal

INTERRUPTED = 130  # kwtui.core.errors.ExitCode.INTERRUPTED, not imported: it is not loaded yet


def _interrupted_while_starting(signum: int, frame: object) -> None:
    import os
    import sys

    sys.stderr.write("error: interrupted while starting; nothing was done\n")
    os._exit(INTERRUPTED)


def main() -> None:
    previous = signal.getsignal(signal.SIGINT)
    if previous is not signal.SIG_IGN:  # a Ctrl-C ignored (nohup, a background job) stays ignored
        signal.signal(signal.SIGINT, _interrupted_while_starting)
    from kwtui.cli.main import main as run

    signal.signal(signal.SIGINT, previous)
    run()
