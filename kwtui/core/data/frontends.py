"""The feature frontends a preset can choose (`features.frontend`): what turns 1 s of 16 kHz audio into the array
a model sees. "micro" (the default) is TensorFlow Lite Micro's audio frontend, which kwtui's firmware and ESPHome's
micro_wake_word compute on the chip; "spectrogram" is diy-alexa's feature, the legacy path."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from kwtui.core.data import micro_frontend, spectrogram


@dataclass(frozen=True)
class Frontend:
    name: str
    shape: tuple[int, int]  # (frames, bins) of one 1 s clip
    compute: Callable[[np.ndarray], np.ndarray]  # 16000 samples -> float32 `shape`
    definition: Callable[[], dict[str, object]]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """What the models take: one channel."""
        return (*self.shape, 1)


FRONTENDS = {
    "spectrogram": Frontend("spectrogram", spectrogram.SHAPE, spectrogram.spectrogram, spectrogram.feature_definition),
    "micro": Frontend("micro", micro_frontend.SHAPE, micro_frontend.micro_features, micro_frontend.feature_definition),
}
SHAPES = {frontend.shape for frontend in FRONTENDS.values()}


def frontend(name: str) -> Frontend:
    return FRONTENDS[name]
