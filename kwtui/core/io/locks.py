"""Who may change a folder while a stage uses it: an flock on `<folder>/.kwtui-lock`, held for a stage's whole run.

A stage holds its folder **exclusive** while it writes there (features: the features folder; train, evaluate,
convert, export: the run folder) and **shared** while it reads one another stage writes (train, evaluate, convert
and export read the features folder). So no writer can delete what a running stage reads (a `kwtui run` that
regenerates features under a running `kwtui train`), two readers never block each other, and a second writer is
refused at once naming the first. The orchestrator takes a stage's locks before TensorFlow loads, and the stage
takes them again: within one process a lock is re-entrant (counted), so nesting never refuses itself.

The kernel releases an flock when its process ends, even by SIGKILL, so a killed run never blocks the next. The
exclusive holder's stage and pid are written into the lock file so that a refused run can name them.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from kwtui.core.errors import UserError

LOCK_NAME = ".kwtui-lock"


@dataclass
class _Held:
    fd: int
    exclusive: bool
    count: int


_held: dict[str, _Held] = {}  # this process's locks, by lock file path


def _key(folder: Path) -> str:
    return os.path.realpath(Path(folder) / LOCK_NAME)


def _open(folder: Path) -> int:
    try:
        return os.open(Path(folder) / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise UserError(f"{folder}: cannot lock the folder ({exc.strerror or exc}); choose a writable folder") from None


def _refused(folder: Path, fd: int, wanted: str) -> UserError:
    holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    if wanted == "shared":  # a writer holds it
        doing = f"{holder or 'another kwtui process'}, which is writing there"
    else:  # readers write no name
        doing = holder or "a kwtui stage reading it (train, evaluate, convert or export)"
    return UserError(f"{folder}: in use by {doing}; wait for it to finish (or stop it), then re-run")


@contextlib.contextmanager
def _lock(folder: Path, stage: str, exclusive: bool) -> Iterator[None]:
    key = _key(folder)
    held = _held.get(key)
    if held is not None:
        if exclusive and not held.exclusive:  # a reader of this process now writes: upgrade, or refuse
            try:
                fcntl.flock(held.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise _refused(folder, held.fd, "exclusive") from None
            held.exclusive = True
            os.ftruncate(held.fd, 0)
            os.pwrite(held.fd, f"kwtui {stage} (pid {os.getpid()})".encode(), 0)
        held.count += 1
        try:
            yield
        finally:
            held.count -= 1
        return
    fd = _open(folder)
    try:
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except OSError:
            raise _refused(folder, fd, "exclusive" if exclusive else "shared") from None
        os.ftruncate(fd, 0)  # a reader got it: no writer holds it, any name there is a killed writer's
        if exclusive:
            os.pwrite(fd, f"kwtui {stage} (pid {os.getpid()})".encode(), 0)
        held = _held[key] = _Held(fd, exclusive, 1)
        try:
            yield
        finally:
            held.count -= 1
            if held.count == 0:
                del _held[key]
                if held.exclusive:
                    with contextlib.suppress(OSError):
                        os.ftruncate(fd, 0)
    finally:
        if key not in _held or _held[key].fd != fd:
            os.close(fd)


def exclusive(folder: Path, stage: str) -> contextlib.AbstractContextManager[None]:
    """Hold the folder's lock alone for `stage` (it writes there), or raise UserError (exit 2) at once naming the
    holder."""
    return _lock(folder, stage, True)


def shared(folder: Path, stage: str) -> contextlib.AbstractContextManager[None]:
    """Hold the folder's lock beside other readers for `stage` (it reads there), or raise UserError (exit 2) at once
    when a writer holds it. A folder that does not exist is not locked: the stage says what is missing."""
    if not Path(folder).is_dir():
        return contextlib.nullcontext()
    return _lock(folder, stage, False)
