"""Every file kwtui writes goes through here.

Temp files are named `.kwtui-tmp-<pid>-<random>-<target name>.part` (at most 255 bytes; without `.part` only
where a library insists on the target's suffix, e.g. Keras' `.keras`), created beside their
target, tracked from the moment they exist, renamed into place on success and removed on every failure path
(ENOSPC included). Only names of exactly this scheme whose writer is no longer running (its pid gone or a zombie, or
reused by a process started after the temp's last write) are ever cleaned up: a user's `.env.tmpl` or `.x.tmp` cannot
match it.

Several files that belong together (a converted model and its C++ sources, a checkpoint and its training
state) are committed as a unit through a journal: the temps are written and synced, then a journal naming
every (temp, target) pair is committed, then the renames run and the journal is removed. A kill at any instant
leaves either no journal (the old set is intact) or a complete journal that `recover` rolls forward (the new set).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import stat
from pathlib import Path
from typing import Iterator

import psutil

from kwtui.core.errors import KwtuiError, UserError

TEMP_PREFIX = ".kwtui-tmp-"
TEMP_SUFFIX = ".part"
JOURNAL_NAME = ".kwtui-commit.json"
_TEMP_RE = re.compile(r"^\.kwtui-tmp-(\d+)-([0-9a-f]{8})-")
_NAME_MAX = 255


class DiskFull(KwtuiError):
    """No space left while committing a file; the previous file is intact."""


def temp_name(target_name: str, keep_suffix: bool = False) -> str:
    """A temp name for `target_name` in the kwtui scheme, cut (at the front, keeping the end) to 255 bytes. It ends
    in `.part`, so a glob for the target's kind (`*.npy`) never sees it, unless `keep_suffix` is asked for."""
    head = f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}-"
    tail = os.fsencode(target_name if keep_suffix else target_name + TEMP_SUFFIX)
    room = _NAME_MAX - len(head)
    if len(tail) > room:
        tail = tail[-room:]
    return head + os.fsdecode(tail)


def is_temp_name(name: str) -> bool:
    return _TEMP_RE.match(name) is not None


# A process started this long after a temp's last write cannot have written it: its pid was reused (pid_max is
# 32768 in many containers, so a test suite or a long session wraps it). The slack covers clock granularity.
_PID_REUSE_SLACK_S = 2.0


def _writer_alive(pid: int, last_write: float) -> bool:
    """Whether the process that wrote a temp (pid from its name, `last_write` its mtime) may still be writing it."""
    try:
        proc = psutil.Process(pid)
        # A zombie has exited: a killed worker whose orphaned pid nobody reaps (no init in a container) stays one.
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        started = float(proc.create_time())
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:  # exists but cannot be inspected (another user's): leave its file alone
        return True
    return started <= last_write + _PID_REUSE_SLACK_S


# Test-only hooks: SIGKILL this process at the Nth commit (rename), and/or log every commit's target, so tests
# can kill a stage at each of its commit points.
_KILL_AT = int(os.environ.get("KWTUI_TEST_KILL_AT_COMMIT", "0") or 0)
_COMMIT_LOG = os.environ.get("KWTUI_TEST_COMMIT_LOG", "")
_commits = 0


def commit_point(target: Path | str = "") -> None:
    """Called just before every rename that commits a result."""
    global _commits
    if not (_KILL_AT or _COMMIT_LOG):
        return
    _commits += 1
    if _COMMIT_LOG:
        with open(_COMMIT_LOG, "a", encoding="utf-8") as log:
            log.write(f"{_commits}\t{target}\n")
    if _commits == _KILL_AT:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


_STOP_AT_STEP = int(os.environ.get("KWTUI_TEST_STOP_AT_STEP", "0") or 0)
_steps = 0


def step_point() -> None:
    """Test-only hook, called after every training batch: with KWTUI_TEST_STOP_AT_STEP=N the process stops itself
    (SIGSTOP) after its Nth, so a test can signal it at that point however late it reads the events."""
    global _steps
    if not _STOP_AT_STEP:
        return
    _steps += 1
    if _steps == _STOP_AT_STEP:
        import signal

        os.kill(os.getpid(), signal.SIGSTOP)


def _disk_error(path: Path, exc: BaseException) -> BaseException:
    """A full disk becomes DiskFull naming the target, a folder kwtui may not write into (read-only, another
    owner's) a UserError naming it (exit 2); any other error is passed on unchanged."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFull(f"{path}: disk full while saving; the previous file is intact. Free some space, then re-run")
    if isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return UserError(
            f"{path.parent}: cannot write {path.name} there ({exc.strerror}); make the folder writable, or choose "
            "another folder (for a run folder: run_dir)"
        )
    return exc


@contextlib.contextmanager
def temp_for(path: Path, fsync: bool = False, keep_suffix: bool = False) -> Iterator[Path]:
    """Yield a temp path beside `path`; on normal exit rename it over `path`, on any error remove it.

    The temp is registered before anything can create it, so a failure inside the block never leaves it."""
    path = Path(path)
    tmp = path.with_name(temp_name(path.name, keep_suffix))
    try:
        yield tmp
        if fsync:
            _fsync_file(tmp)
        commit_point(path)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        mapped = _disk_error(path, exc)
        if mapped is not exc:
            raise mapped from None
        raise


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_fd(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def write_bytes(path: Path, data: bytes, fsync: bool = False) -> int:
    """Write `data` to `path` atomically (temp + rename). Returns the bytes written."""
    with temp_for(Path(path), fsync=fsync) as tmp:
        _write_fd(tmp, data)
    return len(data)


def write_text(path: Path, text: str, fsync: bool = False) -> int:
    return write_bytes(path, text.encode("utf-8"), fsync=fsync)


class Unit:
    """Files committed together: `temp(path)` hands out a tracked temp for a caller that writes it itself
    (e.g. Keras' model.save), `add(path, data)` writes one; `commit()` syncs, journals and renames them all."""

    def __init__(self, journal_dir: Path) -> None:
        self.journal = Path(journal_dir) / JOURNAL_NAME
        self.pairs: list[tuple[Path, Path]] = []

    def temp(self, path: Path, keep_suffix: bool = False) -> Path:
        path = Path(path)
        tmp = path.with_name(temp_name(path.name, keep_suffix))
        self.pairs.append((tmp, path))
        return tmp

    def add(self, path: Path, data: bytes) -> None:
        _write_fd(self.temp(path), data)

    def discard(self) -> None:
        for tmp, _ in self.pairs:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        self.pairs.clear()

    def commit(self) -> None:
        try:
            for tmp, target in self.pairs:
                if os.path.isdir(target) and not os.path.islink(target):  # a rename could never complete
                    raise KwtuiError(
                        f"{target}: is a folder, so this result cannot be written there; rename the folder"
                    )
                _fsync_file(tmp)
            record = [[os.path.abspath(t), os.path.abspath(p)] for t, p in self.pairs]
            write_text(self.journal, json.dumps(record), fsync=True)
        except BaseException:
            self.discard()
            raise
        _roll_forward(self.journal)
        self.pairs.clear()


@contextlib.contextmanager
def unit(journal_dir: Path) -> Iterator[Unit]:
    """`with unit(run_dir) as u: u.add(...); u.temp(...)` commits all on normal exit, removes all temps on error."""
    u = Unit(journal_dir)
    try:
        yield u
        u.commit()
    except BaseException as exc:
        target = u.pairs[-1][1] if u.pairs else u.journal
        u.discard()
        mapped = _disk_error(target, exc)
        if mapped is not exc:
            raise mapped from None
        raise


def write_files(files: dict[Path, bytes], journal_dir: Path | None = None) -> None:
    """Commit several files as a unit (see the module docstring). Targets may be in different folders."""
    with unit(journal_dir or Path(next(iter(files))).parent) as u:
        for path, data in files.items():
            u.add(Path(path), data)


def _roll_forward(journal: Path) -> None:
    pairs = json.loads(journal.read_text(encoding="utf-8"))
    for tmp, target in pairs:
        if os.path.lexists(tmp):
            commit_point(target)
            os.replace(tmp, target)
    os.unlink(journal)


def recover(folder: Path) -> bool:
    """Finish a unit commit that a killed run left half done (its journal is complete). True if one was found."""
    journal = Path(folder) / JOURNAL_NAME
    if not journal.exists():
        return False
    try:
        _roll_forward(journal)
    except (ValueError, TypeError):  # cannot happen for a journal committed by rename; never guess
        raise KwtuiError(f"{journal}: unreadable commit journal; remove it and re-run the stage") from None
    return True


def remove_stale_temps(folder: Path, recursive: bool = False) -> int:
    """Remove temps of the kwtui scheme left by dead processes (never anything else). Returns the count."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    recover(folder)
    removed = 0
    walker = os.walk(folder) if recursive else [(str(folder), [], os.listdir(folder))]
    for root, _dirs, names in walker:
        for name in names:
            match = _TEMP_RE.match(name)
            if not match:
                continue
            path = os.path.join(root, name)
            try:
                status = os.lstat(path)
            except FileNotFoundError:
                continue
            if stat.S_ISREG(status.st_mode) and not _writer_alive(int(match.group(1)), status.st_mtime):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
                    removed += 1
    return removed
