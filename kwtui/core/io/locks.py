"""One writer per folder: an flock on `<folder>/.kwtui-lock`, held for a stage's whole run.

The kernel releases an flock when its process ends, even by SIGKILL, so a killed run never blocks the next.
The holder's pid and stage are written into the lock file so that a refused second run can name them.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Iterator

from kwtui.core.errors import UserError

LOCK_NAME = ".kwtui-lock"


@contextlib.contextmanager
def exclusive(folder: Path, stage: str) -> Iterator[None]:
    """Hold the folder's lock for `stage`, or raise UserError (exit 2) at once naming the other process."""
    folder = Path(folder)
    try:
        fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise UserError(f"{folder}: cannot lock the folder ({exc.strerror or exc}); choose a writable folder") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another kwtui process"
            raise UserError(
                f"{folder}: in use by {holder}; wait for it to finish (or stop it), then re-run"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"kwtui {stage} (pid {os.getpid()})".encode(), 0)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
    finally:
        os.close(fd)
