"""A folder of audio kwtui synthesizes once with espeak-ng and reuses while its definition stays the same.

Synthetic running speech and the keywords' run-on words follow one contract: a manifest (the definition the audio
was made from) is written last, so a folder whose manifest matches is complete; otherwise kwtui claims the folder
(it refuses one it did not create), removes half-written temp files of a killed run, synthesizes, and only then
writes the manifest. A resumed or repeated run therefore either reuses the whole folder or makes it again.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kwtui.core.events import Progress, Reporter, Started
from kwtui.core.io import ownership, writer


def available() -> bool:
    return shutil.which("espeak-ng") is not None


def matches(folder: Path, manifest: str, wanted: dict[str, Any]) -> bool:
    """The folder holds complete audio of this definition."""
    try:
        return bool(json.loads((folder / manifest).read_text(encoding="utf-8")) == wanted)
    except (OSError, ValueError):
        return False


@contextmanager
def rebuilding(folder: Path, manifest: str, wanted: dict[str, Any], role: str) -> Iterator[None]:
    """Around a synthesis into `folder` (named `role` in a refusal): the manifest is written only if it ends."""
    ownership.claim(folder, role)
    writer.remove_stale_temps(folder)
    yield
    writer.write_text(folder / manifest, json.dumps(wanted, indent=2) + "\n")


def progress(report: Reporter, stage: str, total: int, unit: str, message: str, doing: str) -> Callable[[int], None]:
    """Announces the synthesis (`message`) and returns `done(count)`, which reports progress with rate and ETA."""
    report(Started(stage, total=total, unit=unit, message=message))
    started = time.monotonic()

    def done(count: int) -> None:
        per_s = count / max(time.monotonic() - started, 1e-6)
        report(Progress(stage, count, total, per_s, (total - count) / per_s, unit=unit, message=doing))

    return done
