"""The real `kwtui` command in a pseudo-terminal: the wizard paints at 80x24 and Ctrl+Q quits with exit code 0."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import sys
import termios
import time
from pathlib import Path

KWTUI = Path(sys.executable).with_name("kwtui")


def read_for(fd: int, seconds: float, until: bytes | None = None) -> bytes:
    out, deadline = b"", time.monotonic() + seconds
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
            if until and until in out:
                break
    return out


def test_kwtui_opens_the_wizard_and_quits_cleanly(tmp_path: Path) -> None:
    pid, fd = pty.fork()
    if pid == 0:  # child: the real CLI entry point, no arguments = the wizard
        os.chdir(tmp_path)
        os.environ.update(TERM="xterm-256color", XDG_STATE_HOME=str(tmp_path / "state"))
        os.execv(str(KWTUI), [str(KWTUI)])
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    started = time.monotonic()
    screen = read_for(fd, 20, until=b"Dataset")
    assert b"Dataset" in screen, screen[-500:]
    painted = time.monotonic() - started
    read_for(fd, 0.5)
    os.write(fd, b"\x11")  # Ctrl+Q
    read_for(fd, 15)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
    assert painted < 5.0  # generous on a loaded machine; bench/tui.py measures first paint properly
    assert (tmp_path / "state" / "kwtui" / "log" / "wizard.log").exists()  # native output goes there
