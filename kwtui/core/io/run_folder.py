"""A stage's hold on the folder it writes: claimed (kwtui's own, or refused), locked, and cleared of the temps and
half-done unit commits a killed run left there."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

from kwtui.core.io import locks, ownership, writer


def reading(folder: Path, stage: str) -> contextlib.AbstractContextManager[None]:
    """`with reading(layout.features_dir, "train"):` around everything a stage reads from a folder another stage
    writes: no writer can change it meanwhile (readers share it)."""
    return locks.shared(folder, stage)


@contextlib.contextmanager
def writing(folder: Path, field: str, stage: str) -> Iterator[Path]:
    """`with writing(layout.run_dir, "run_dir", "train"):` around everything a stage writes there."""
    ownership.claim(folder, field)
    with locks.exclusive(folder, stage):
        writer.remove_stale_temps(folder)
        yield Path(folder)
