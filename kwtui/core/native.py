"""Keep what native libraries (TensorFlow, TFLite Micro) print to fd 1/2 off the terminal and out of --json."""

from __future__ import annotations

import contextlib
import io
import os
import sys
import threading
from typing import Any, Iterator


@contextlib.contextmanager
def quiet_native_output() -> Iterator[None]:
    """Silence what TFLite/TFLM's C++ print to fd 2 (every failed arena probe, converter notes) and what the
    converter prints to sys.stdout (which must stay clean JSON with --json). fd 2 is only redirected on the
    main thread (the CLI): the wizard runs stages in worker threads while it draws on the terminal."""
    with contextlib.redirect_stdout(io.StringIO()):
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        with _quiet_fd2():
            yield


@contextlib.contextmanager
def _quiet_fd2() -> Iterator[None]:
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def import_tensorflow_quietly() -> None:
    """Import TensorFlow once with its start-up banner (oneDNN notices, printed before its logging is set up and
    deaf to TF_CPP_MIN_LOG_LEVEL) kept off the terminal. Only on the main thread, like quiet_native_output."""
    if "tensorflow" in sys.modules:
        return
    # the one place kwtui sets it: TensorFlow's C++ INFO/WARNING chatter would garble the CLI and the wizard;
    # errors still show (every stage that needs TensorFlow imports it here first, and children inherit it)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # TensorFlow leaves its oneDNN kernels off on some x86 CPUs (AMD EPYC among them); without them the small
    # convolutions, pooling and their gradients of kwtui's models run on slow generic kernels (BENCHMARKS.md
    # "Training throughput"). A user's own setting wins.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    with quiet_native_output():
        import tensorflow  # noqa: F401


def dies_with_parent() -> Any:
    """A `preexec_fn` for a child that must not outlive the stage that started it (SIGKILL included): the kernel
    kills it when its parent dies (Linux PR_SET_PDEATHSIG); elsewhere, nothing."""
    parent = os.getpid()

    def arm() -> None:
        import ctypes
        import signal

        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            return
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)

    return arm if sys.platform.startswith("linux") else None
