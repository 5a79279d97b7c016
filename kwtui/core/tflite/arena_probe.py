"""Whether TFLite Micro allocates and invokes a model in an arena of N bytes, asked in a child process.

TFLite Micro can crash (SIGSEGV) instead of failing cleanly when the arena is too small for a model with resource
variables, so each probe runs in its own short process (no TensorFlow: `tflite_micro` and numpy only).
Exit status: 0 = runs, 1 = does not fit; anything else (a crash) also means "does not fit".
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable


def smallest_arena(runs: Callable[[int], bool], start: int, limit: int, align: int) -> int | None:
    """Smallest arena (multiple of `align`) for which `runs(size)` holds: doubling from `start`, then bisection.
    None when even `limit` bytes are not enough."""
    high = start
    while not runs(high):
        high *= 2
        if high > limit:
            return None
    low = 0  # known to fail (or not tried)
    while high - low > align:
        mid = (low + high) // 2 // align * align
        if mid <= low:
            break
        if runs(mid):
            high = mid
        else:
            low = mid
    return high


def runs_in_child(model_path: Path, arena_size: int, timeout: float = 60) -> bool:
    try:
        done = subprocess.run(
            [sys.executable, "-m", "kwtui.core.tflite.arena_probe", str(model_path), str(arena_size)],
            capture_output=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def measured_arena(tflite: bytes, start: int, limit: int, align: int) -> int | None:
    """Smallest arena (multiple of `align`) TFLite Micro allocates and runs `tflite` in, each probe in a child
    process (safe for models with resource variables); None when `limit` bytes are not enough."""
    with tempfile.TemporaryDirectory(prefix="kwtui-arena-") as folder:
        path = Path(folder) / "model.tflite"
        path.write_bytes(tflite)
        return smallest_arena(lambda size: runs_in_child(path, size), start, limit, align)


def _probe(model_path: str, arena_size: int) -> int:
    import numpy as np
    from tflite_micro.python.tflite_micro import runtime

    try:
        interpreter = runtime.Interpreter.from_bytes(Path(model_path).read_bytes(), arena_size=arena_size)
        detail = interpreter.get_input_details(0)
        interpreter.set_input(np.zeros(detail["shape"], dtype=detail["dtype"]), 0)
        interpreter.invoke()
        interpreter.invoke()  # a second call reads the state variables the first one wrote
    except (RuntimeError, ValueError):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_probe(sys.argv[1], int(sys.argv[2])))


def arena_with_margin(tflite: bytes, margin: int, limit: int, align: int, what: str) -> tuple[int, int]:
    """(the smallest arena TFLite Micro runs `tflite` in, that plus `margin` rounded up to `align`): the one
    arena search both deployment targets use. KwtuiError naming `what` when `limit` bytes are not enough."""
    from kwtui.core.errors import KwtuiError

    minimum = measured_arena(tflite, 8 * 1024, limit, align)
    if minimum is None:
        raise KwtuiError(f"{what}: TFLite Micro cannot run the model even in a {limit} byte arena")
    return minimum, -(-(minimum + margin) // align) * align
