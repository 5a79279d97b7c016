"""ESPHome's feature: TensorFlow Lite Micro's audio frontend (micro_frontend), through `pymicro-features`, which
wraps the same C code that ESPHome's `micro_wake_word` runs on the chip.

16 kHz 16-bit mono -> 30 ms windows every 10 ms -> 40 mel channels (125-7500 Hz) -> noise reduction -> PCAN gain
control -> log scale; `pymicro-features` returns each channel divided by 25.6 (values ~0-26), the unit microWakeWord
trains in and that ESPHome's int8 input quantization (scale 26/255, zero point -128) assumes.

Unlike kwtui's own spectrogram, the frontend is stateful (noise estimate, gain): a clip's features are computed
from a fresh frontend, as microWakeWord's training does; a continuous stream keeps one frontend throughout, as the
chip does (`FeatureStream`). The audio is not normalized: the gain control sees the recording's real level.
"""

from __future__ import annotations

import numpy as np

from kwtui.core.data.spectrogram import CLIP_SAMPLES, SAMPLE_RATE

NAME = "micro"
STEP_SAMPLES = 160  # 10 ms: one feature slice per step
STEP_MS = 10
WINDOW_SAMPLES = 480  # 30 ms
CHANNELS = 40
N_FRAMES = (CLIP_SAMPLES - WINDOW_SAMPLES) // STEP_SAMPLES + 1  # 98
SHAPE = (N_FRAMES, CHANNELS)
FEATURE_SCALE = 25.6  # pymicro-features' output = frontend value / 25.6
INPUT_RANGE = (0.0, 26.0)  # what ESPHome's input quantization covers: scale 26/255, zero point -128


def _pcm16(audio: np.ndarray) -> bytes:
    clipped = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 32767 / 32768)
    return np.round(clipped * 32768).astype("<i2").tobytes()


class FeatureStream:
    """One frontend over a continuous stream: `push(samples)` returns the feature slices completed by them."""

    def __init__(self) -> None:
        from pymicro_features import MicroFrontend

        self._frontend = MicroFrontend()
        self._pending = b""

    def push(self, audio: np.ndarray) -> np.ndarray:
        data = self._pending + _pcm16(audio)
        step_bytes = STEP_SAMPLES * 2
        rows = []
        at = 0
        while at + step_bytes <= len(data):
            result = self._frontend.process_samples(data[at : at + step_bytes])
            at += result.samples_read * 2
            if result.features:
                rows.append(result.features)
        self._pending = data[at:]
        return np.asarray(rows, dtype=np.float32).reshape(len(rows), CHANNELS)


def micro_features(audio: np.ndarray) -> np.ndarray:
    """Features of one 1 s clip at 16 kHz from a fresh frontend: float32 (98, 40)."""
    x = np.asarray(audio)
    if x.shape != (CLIP_SAMPLES,):
        raise ValueError(f"expected {CLIP_SAMPLES} samples, got shape {x.shape}")
    features = FeatureStream().push(x)
    assert features.shape == SHAPE, features.shape
    return features


def feature_definition() -> dict[str, object]:
    """The parameters that define the feature, stored with every feature folder."""
    from importlib.metadata import version

    return {
        "frontend": NAME,
        "implementation": f"pymicro-features {version('pymicro-features')}",
        "sample_rate": SAMPLE_RATE,
        "clip_samples": CLIP_SAMPLES,
        "window": WINDOW_SAMPLES,
        "stride": STEP_SAMPLES,
        "channels": CHANNELS,
        "scale": 1 / FEATURE_SCALE,
        "shape": list(SHAPE),
        "dtype": "float32",
    }
