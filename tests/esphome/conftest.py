"""A trained, evaluated ESPHome-style run (micro frontend + streaming model, one wake word) on the demo dataset,
exported once through the real CLI into a folder that already holds a user's files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tomli_w

from tests.helpers.corpus import kwtui

DECOYS = {"notes.txt": b"my notes\n", "marvin.txt": b"not a model\n", "okay_nabu.json": b'{"mine": true}\n'}


ESPHOME_PER_WORD = 60  # the shared demo set's 20 clips per word leave 2 held-out keyword clips


@pytest.fixture(scope="session")
def esphome_export(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from kwtui.core.events import CancelToken
    from kwtui.core.preset import load_preset
    from kwtui.core.stages.pipeline import run_stage
    from tests.helpers.data import make_cached_demo_dataset

    demo_dataset = make_cached_demo_dataset(ESPHOME_PER_WORD)
    root = tmp_path_factory.mktemp("esphome")
    preset_file = root / "esphome-test.toml"
    preset_file.write_text(
        tomli_w.dumps(
            {
                "name": "esphome-test",
                "run_dir": str(root / "run"),
                "dataset": {"path": str(demo_dataset)},
                "classes": {"keywords": ["marvin"], "unknown": False, "background": False},
                "features": {"frontend": "micro", "variants": 3, "workers": 2},
                "train": {"model": "stream", "epochs": 25, "batch_size": 32},
                "evaluate": {"hop_ms": 30},
            }
        )
    )
    preset = load_preset(preset_file)
    for stage in ("features", "train", "evaluate"):
        run_stage(stage, preset, lambda event: None, CancelToken())
    out = root / "my esphome config"
    out.mkdir()
    for name, data in DECOYS.items():
        (out / name).write_bytes(data)
    result = kwtui("export", "esphome", preset_file, "--out", out, "--json", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return {
        "preset": preset,
        "preset_file": preset_file,
        "out": out,
        "result": result,
        "record": json.loads((Path(preset.run_path) / "esphome.json").read_text()),
        "report": json.loads((Path(preset.run_path) / "report.json").read_text()),
    }
