"""`kwtui scan` and the wizard list what cannot be used first, then conversions one line per kind, then notes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from kwtui.core.data.scan import scan_dataset
from kwtui.tui.steps.dataset import problem_lines
from tests.helpers.corpus import kwtui
from tests.tui.scripted import write_tiny_dataset


def _dataset(tmp_path: Path) -> Path:
    root = write_tiny_dataset(tmp_path / "data")
    t = np.arange(22050) / 22050
    for k in range(30):  # many clips that only need resampling
        sf.write(root / "yes" / f"{k:04d}aaaa_nohash_0.wav", 0.3 * np.sin(2 * np.pi * 440 * t), 22050, subtype="PCM_16")
    for k in range(3):  # three that cannot be used
        (root / "no" / f"broken{k}_nohash_0.wav").write_bytes(b"RIFF....WAVEjunk" * 3)
    (root / "stray.txt").write_text("a note\n")
    return root


def test_scan_cli_groups_problems_by_severity(tmp_path: Path):
    root = _dataset(tmp_path)
    out = kwtui("scan", root).stdout
    unusable, converted = out.index("cannot be used (3 files"), out.index("used after a conversion (")
    assert unusable < converted
    assert out.count("broken") == 3  # every unusable file named
    assert "22050 Hz (resampled to 16 kHz): 31 files" in out  # one line for the whole kind
    assert "aaaa_nohash" not in out  # conversions are not listed file by file
    verbose = kwtui("scan", root, "--verbose").stdout
    assert verbose.count("aaaa_nohash") == 30


def test_wizard_problem_list_is_short_and_unusable_first(tmp_path: Path):
    lines = problem_lines(scan_dataset(_dataset(tmp_path)))
    assert [line[0] for line in lines[:3]] == ["x", "x", "x"]
    assert sum(1 for line in lines if line.startswith("~")) == 1
    assert len(lines) <= 6
