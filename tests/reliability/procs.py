"""Run `kwtui` as a child process and act (kill, interrupt) while it works.

`watch(...)` streams the child's `--json` events line by line and calls `decide(event)` for each;
when `decide` returns a signal number, the child gets that signal at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import psutil

from kwtui.core.io import writer
from tests.helpers.corpus import REPO, kwtui_command


@dataclass
class Outcome:
    returncode: int
    events: list[dict] = field(default_factory=list)
    stderr: str = ""
    signalled: int | None = None  # the signal we sent, if any
    children: list[int] = field(default_factory=list)  # pids of the child's descendants when we signalled it
    seconds: float = 0.0


def watch(
    args: list[str | os.PathLike],
    decide: Callable[[dict], int | None] | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 300,
    after_s: float | None = None,
    after_signal: int = signal.SIGKILL,
    when_stopped: int | None = None,
) -> Outcome:
    """Run `kwtui ARGS --json`. Send `decide`'s signal when it asks, or `after_signal` after `after_s` seconds, or
    `when_stopped` once the child has stopped itself (SIGSTOP: kwtui.core.io.writer.step_point, KWTUI_TEST_STOP_AT_STEP);
    then SIGCONT, so that a signal it handles (SIGTERM, SIGHUP) reaches its handler."""
    full_env = {**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1", **(env or {})}
    command = ["nice", "-n", "10", *kwtui_command(), *map(str, args), "--json"]
    started = time.monotonic()
    proc = subprocess.Popen(
        command,
        cwd=REPO,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_as_from_a_terminal,
    )
    outcome = Outcome(returncode=0)
    stderr_chunks: list[str] = []
    reader = threading.Thread(target=lambda: stderr_chunks.extend(proc.stderr), daemon=True)
    reader.start()

    def send(sig: int) -> None:
        try:
            outcome.children = [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
        except psutil.Error:
            pass
        outcome.signalled = sig
        proc.send_signal(sig)

    timer = None
    if after_s is not None:

        def fire() -> None:
            if proc.poll() is None and outcome.signalled is None:
                send(after_signal)

        timer = threading.Timer(after_s, fire)
        timer.start()
    lines: queue.Queue = queue.Queue()

    def read_stdout() -> None:
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read_stdout, daemon=True).start()
    deadline = started + timeout
    exited_at = None
    try:
        while True:
            if when_stopped is not None and outcome.signalled is None and _stopped(proc.pid):
                send(when_stopped)
                os.kill(proc.pid, signal.SIGCONT)
            try:
                line = lines.get(timeout=0.1)
            except queue.Empty:
                # orphaned grandchildren may hold stdout open after the child died: do not wait for them
                if proc.poll() is not None:
                    exited_at = exited_at or time.monotonic()
                    if time.monotonic() - exited_at > 3:
                        break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"kwtui {' '.join(map(str, args))} took more than {timeout} s") from None
                continue
            if line is None:
                break
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            outcome.events.append(event)
            if decide is not None and outcome.signalled is None:
                sig = decide(event)
                if sig is not None:
                    send(sig)
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if timer is not None:
            timer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(timeout=3)
    outcome.returncode = proc.returncode
    outcome.stderr = "".join(stderr_chunks)
    outcome.seconds = time.monotonic() - started
    return outcome


def _as_from_a_terminal() -> None:
    """The child gets the signal dispositions of a command typed in a terminal. Under `nohup` (or a CI runner that
    ignores SIGHUP) the tests' children inherited SIGHUP ignored, and kwtui rightly kept running when it came: the
    kill-and-resume test's SIGHUP attempt then finished unkilled (the "flake" of 4 local fresh-clone CI runs)."""
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _stopped(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_STOPPED
    except psutil.Error:
        return False


def temp_files(root: Path) -> list[str]:
    """Files that look like unfinished writes (temp names), relative to root."""
    found = []
    for path in root.rglob("*"):
        name = path.name
        if (
            ".tmp" in name
            or name.endswith((".part", ".partial", "~"))
            or name.startswith(".tmp")
            or writer.is_temp_name(name)
            or name == writer.JOURNAL_NAME
        ):
            found.append(str(path.relative_to(root)))
    return sorted(found)


def tree_digest(root: Path, exclude: tuple[str, ...] = ()) -> dict[str, str]:
    """Every regular file under root (relative path -> sha256), minus names in `exclude`."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name not in exclude
    }


def survivors(pids: list[int], wait_s: float = 15.0) -> list[str]:
    """Those of `pids` still running (not zombies) after up to `wait_s` seconds."""
    deadline = time.monotonic() + wait_s
    while True:
        alive = []
        for pid in pids:
            try:
                proc = psutil.Process(pid)
                if proc.status() != psutil.STATUS_ZOMBIE:
                    alive.append(f"{pid}: {' '.join(proc.cmdline())[:120]}")
            except psutil.Error:
                pass
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)
