"""Dataset and feature fixtures (owned by the data/features work). Imported by tests/conftest.py.

Fixtures (session-scoped, stable names and return types):
- `demo_dataset` -> pathlib.Path: a small espeak-ng (and flite) dataset in Speech-Commands layout: words
  yes, no, left, right, marvin (keyword-ish) + up, down, go, stop (fillers), DEMO_PER_WORD clips each at
  22.05 kHz, 4 noise files of DEMO_NOISE_SECONDS s in `_background_noise_/`, validation/testing lists split
  by speaker. Cached under tests/fixtures/generated/ by a version key (a second local run is instant).
  Treat it as read-only.
- `demo_features` -> kwtui.core.preset.Preset: a loaded "commands"-like preset (keywords yes, no, left, right
  + _unknown + _background, variants 1, run_dir in a tmp dir) after running the features stage once:
  `RunLayout(preset).manifest("train")`, `features.json` etc. exist. Treat as read-only; copy the run dir
  (or point a new preset's features.output at it) if you need to write next to it.
Helpers: `demo_preset_data(dataset, run_dir, **sections)` builds raw preset data for `from_dict`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
GENERATED = REPO / "tests" / "fixtures" / "generated"
DEMO_WORDS = ("yes", "no", "left", "right", "marvin", "up", "down", "go", "stop")
DEMO_PER_WORD = 20
DEMO_NOISE_SECONDS = 12.0
DEMO_SEED = 7


def _demo_key(per_word: int = DEMO_PER_WORD) -> str:
    from kwtui.core.data.demo import flite_voices

    source = (REPO / "kwtui" / "core" / "data" / "demo.py").read_bytes()
    # the speakers depend on whether flite is installed
    params = f"{DEMO_WORDS}|{per_word}|{DEMO_NOISE_SECONDS}|{DEMO_SEED}|{flite_voices()}".encode()
    return hashlib.sha1(source + params).hexdigest()[:10]


def make_cached_demo_dataset(per_word: int = DEMO_PER_WORD) -> Path:
    """Generate once per version key; concurrent runs race safely (generate aside, then rename)."""
    from kwtui.core.data.demo import make_demo_dataset

    key = _demo_key(per_word)
    target = GENERATED / f"demo-{key}"
    if (target / "README.txt").exists():
        return target
    GENERATED.mkdir(parents=True, exist_ok=True)
    scratch = GENERATED / f".demo-{key}-{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)
    make_demo_dataset(scratch, DEMO_WORDS, per_word, DEMO_SEED, noise_seconds=DEMO_NOISE_SECONDS)
    try:
        os.rename(scratch, target)
    except OSError:  # someone else finished first
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def demo_preset_data(dataset: Path, run_dir: Path, /, **sections: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "commands-test",
        "run_dir": str(run_dir),
        "dataset": {"path": str(dataset)},
        "classes": {"keywords": ["yes", "no", "left", "right"], "unknown": True, "background": True},
        "features": {"variants": 1, "workers": 2},
        "train": {"epochs": 2, "batch_size": 32},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return data


@pytest.fixture(scope="session")
def demo_dataset() -> Path:
    return make_cached_demo_dataset()


@pytest.fixture(scope="session")
def demo_features(demo_dataset: Path, tmp_path_factory: pytest.TempPathFactory):
    import tomli_w

    from kwtui.core.events import CancelToken
    from kwtui.core.preset import load_preset
    from kwtui.core.stages.features import run_features

    run_dir = tmp_path_factory.mktemp("demo_features_run") / "run"
    preset_file = run_dir.parent / "commands-test.toml"
    preset_file.write_text(tomli_w.dumps(demo_preset_data(demo_dataset, run_dir)))
    preset = load_preset(preset_file)
    run_features(preset, lambda event: None, CancelToken())
    return preset
