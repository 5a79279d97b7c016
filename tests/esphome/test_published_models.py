"""kwtui's model of ESPHome's micro_wake_word (micro frontend, fixed input quantization, TFLite Micro stride by
stride, the device's averaging) against ESPHome's own host runtime, on the published v2 models pymicro-wakeword
bundles: the same audio must give the same scores (esphome.SCORE_TOLERANCE) and, away from the cutoff, the same
decisions. Also: the published models pass the export's ESPHome checks (so the checks are not stricter than
ESPHome)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kwtui.core.data.audio import resample
from kwtui.core.stages import esphome
from tests.helpers.corpus import ESPEAK_RATE, speak

MODELS = Path(__import__("pymicro_wakeword").__file__).parent / "models"
PHRASES = [("hey jarvis", v) for v in range(6)] + [
    ("hey travis", 0),
    ("jarvis", 1),
    ("hello there", 2),
    ("what time is it", 3),
    ("hey siri", 4),
    ("marvin", 5),
]


def _audio(text: str, variant: int) -> np.ndarray:
    speech = resample(speak(text, variant), ESPEAK_RATE)
    return esphome.padded(speech[: 2 * 16000])


@pytest.mark.parametrize("name", ["hey_jarvis", "okay_nabu"])
def test_published_models_pass_the_esphome_checks(name):
    model = esphome.describe_model((MODELS / f"{name}.tflite").read_bytes())
    assert esphome.esphome_problems(model, stride=3) == [], model


def test_kwtui_scores_a_published_model_as_esphome_host_runtime_does():
    manifest_path = MODELS / "hey_jarvis.json"
    micro = json.loads(manifest_path.read_text())["micro"]
    tflite = (MODELS / "hey_jarvis.tflite").read_bytes()
    decided = []
    for text, variant in PHRASES:
        audio = _audio(text, variant)
        ours = esphome.device_score(tflite, micro["tensor_arena_size"], micro["sliding_window_size"], audio)
        theirs = esphome.host_runtime_score(manifest_path, audio)
        assert abs(ours - theirs) <= esphome.SCORE_TOLERANCE, (text, variant, ours, theirs)
        if abs(ours - micro["probability_cutoff"]) > esphome.SCORE_TOLERANCE:
            assert (ours > micro["probability_cutoff"]) == (theirs > micro["probability_cutoff"]), (text, ours, theirs)
        decided.append((text, ours, theirs))
    assert max(ours for text, ours, _ in decided if text == "hey jarvis") > 0.5, decided  # it does hear it
