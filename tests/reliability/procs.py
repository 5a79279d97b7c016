"""Run `kwtui` as a child process and act (kill, interrupt) while it works.

`watch(...)` streams the child's `--json` events line by line and calls `decide(event)` for each;
when `decide` returns a signal number, the child gets that signal at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from tests.helpers.corpus import REPO, kwtui_command


@dataclass
class Outcome:
    returncode: int
    events: list[dict] = field(default_factory=list)
    stderr: str = ""
    signalled: int | None = None  # the signal we sent, if any
    seconds: float = 0.0


def watch(
    args: list[str | os.PathLike],
    decide: Callable[[dict], int | None] | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 300,
    after_s: float | None = None,
    after_signal: int = signal.SIGKILL,
) -> Outcome:
    """Run `kwtui ARGS --json`. Send `decide`'s signal when it asks, or `after_signal` after `after_s` seconds."""
    full_env = {**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1", **(env or {})}
    command = ["nice", "-n", "10", *kwtui_command(), *map(str, args), "--json"]
    started = time.monotonic()
    proc = subprocess.Popen(
        command, cwd=REPO, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    outcome = Outcome(returncode=0)
    stderr_chunks: list[str] = []
    reader = threading.Thread(target=lambda: stderr_chunks.append(proc.stderr.read()), daemon=True)
    reader.start()
    timer = None
    if after_s is not None:
        def fire() -> None:
            if proc.poll() is None and outcome.signalled is None:
                outcome.signalled = after_signal
                proc.send_signal(after_signal)
        timer = threading.Timer(after_s, fire)
        timer.start()
    deadline = started + timeout
    try:
        for line in proc.stdout:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            outcome.events.append(event)
            if decide is not None and outcome.signalled is None:
                sig = decide(event)
                if sig is not None:
                    outcome.signalled = sig
                    proc.send_signal(sig)
            if time.monotonic() > deadline:
                proc.kill()
                raise TimeoutError(f"kwtui {' '.join(map(str, args))} took more than {timeout} s")
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if timer is not None:
            timer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(timeout=10)
    outcome.returncode = proc.returncode
    outcome.stderr = "".join(stderr_chunks)
    outcome.seconds = time.monotonic() - started
    return outcome


def temp_files(root: Path) -> list[str]:
    """Files that look like unfinished writes (temp names), relative to root."""
    found = []
    for path in root.rglob("*"):
        name = path.name
        if ".tmp" in name or name.endswith((".part", ".partial", "~")) or name.startswith(".tmp"):
            found.append(str(path.relative_to(root)))
    return sorted(found)


def tree_digest(root: Path, exclude: tuple[str, ...] = ()) -> dict[str, str]:
    """Every regular file under root (relative path -> sha256), minus names in `exclude`."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name not in exclude
    }
