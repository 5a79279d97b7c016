"""Folders kwtui creates carry a marker; kwtui writes only into empty folders or folders with its marker.

A folder the user hands kwtui (features.output, run_dir) may already hold their own files: without the
marker, kwtui refuses before doing any work rather than mixing its files with theirs.
"""

from __future__ import annotations

import os
from pathlib import Path

from kwtui.core.errors import KwtuiError, UserError
from kwtui.core.io import writer

MARKER_NAME = ".kwtui-owned"
_MARKER_TEXT = "This folder was created by kwtui; it writes and cleans up only its own files here.\n"


def owns(folder: Path) -> bool:
    return (Path(folder) / MARKER_NAME).is_file()


def refuse_foreign(folder: Path, field: str) -> None:
    """What `claim` refuses, checked without writing anything (a run checks every folder it will write before it
    writes any)."""
    folder = Path(folder)
    if folder.is_dir() and not owns(folder):
        try:
            foreign = any(name != MARKER_NAME for name in os.listdir(folder))
        except OSError:
            return  # claim says why it cannot use it
        if foreign:
            claim(folder, field)  # raises, naming the folder and what to do


def claim(folder: Path, field: str) -> Path:
    """Create `folder` (with parents) or adopt it if empty, and mark it as kwtui's.

    Raises UserError (exit 2) if it exists, holds anything and has no marker, or cannot be created."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{field} {folder}: is a file, not a folder; choose a folder path")
    try:
        if owns(folder):
            return folder
        if folder.is_dir():
            entries = [name for name in os.listdir(folder) if name != MARKER_NAME]
            if entries:
                raise UserError(
                    f"{field} {folder}: the folder already holds {len(entries)} entr{'y' if len(entries) == 1 else 'ies'} "
                    "that kwtui did not create; choose a new or empty folder (kwtui never writes among your files)"
                )
        folder.mkdir(parents=True, exist_ok=True)
        writer.write_text(folder / MARKER_NAME, _MARKER_TEXT)
    except UserError:
        raise
    except OSError as exc:
        raise UserError(
            f"{field} {folder}: cannot create or write the folder ({exc.strerror or exc}); choose a writable folder"
        ) from None
    except KwtuiError as exc:
        raise UserError(f"{field} {folder}: cannot write the folder ({exc}); choose a writable folder") from None
    return folder
