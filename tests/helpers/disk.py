"""A small real tmpfs, for tests where the disk must fill up mid-run (needs root; otherwise the test skips)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Iterator

import pytest


def mounted_tmpfs(mount_point: Path, size: str) -> Iterator[Path]:
    """Mount a tmpfs of `size` (e.g. "400k") at `mount_point`, yield it, unmount it. For use in fixtures."""
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {done.stderr.decode().strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)
