"""What ESPHome's micro_wake_word requires of a model and how it turns outputs into detections (its component
sources: the op resolver, the streaming model's input/output checks and its sliding-window average)."""

from __future__ import annotations

from typing import Any

import numpy as np

# Registered by ESPHome's micro_wake_word (its op resolver); anything else fails to load on the device.
ESPHOME_OPS = frozenset(
    {
        "CALL_ONCE",
        "VAR_HANDLE",
        "RESHAPE",
        "READ_VARIABLE",
        "STRIDED_SLICE",
        "CONCATENATION",
        "ASSIGN_VARIABLE",
        "CONV_2D",
        "MUL",
        "ADD",
        "MEAN",
        "FULLY_CONNECTED",
        "LOGISTIC",
        "QUANTIZE",
        "DEPTHWISE_CONV_2D",
        "AVERAGE_POOL_2D",
        "MAX_POOL_2D",
        "PAD",
        "PACK",
        "SPLIT_V",
    }
)
MAX_STATE_VARIABLES = 20  # ESPHome creates its MicroResourceVariables with room for 20
SCHEMA_VERSION = 3
INPUT_SCALE = 26.0 / 255.0  # ESPHome quantizes the frontend's output with these, whatever the model says
INPUT_ZERO_POINT = -128
OUTPUT_SCALE = 1.0 / 256.0  # a uint8 sigmoid: what the int8 LOGISTIC + QUANTIZE give
# ESPHome fires when sum(uint8 probabilities) / (255 * window) > cutoff; pymicro-wakeword (its host runtime)
# averages uint8 / 256 and never exceeds 255/256 = 0.9961. Cutoffs above this would never fire there.
MAX_CUTOFF = 0.995


def device_probabilities(probabilities: np.ndarray) -> np.ndarray:
    """Float sigmoid outputs as ESPHome averages them: quantized to the uint8 output, divided by 255."""
    steps = np.minimum(np.round(np.asarray(probabilities, dtype=np.float64) / OUTPUT_SCALE), 255)
    return (steps / 255.0).astype(np.float32)


# After a detection (and at start) micro_wake_word zeroes its recent probabilities and ignores this many feature
# slices (10 ms each) before it may detect again (MIN_SLICES_BEFORE_DETECTION).
IGNORED_SLICES_AFTER_DETECTION = 74


class WakeWordPostProcessor:
    """micro_wake_word's decision, fed one inference's uint8 probability at a time (as a float: uint8 x 1/256):
    the last `window` values (zeros at first) summed, divided by 255 x window, detect when above `cutoff`; the
    check runs after every feature slice, so a stride of 3 slices gives it three chances per inference."""

    def __init__(self, cutoff: float, window: int, stride: int = 3) -> None:
        self.cutoff = float(cutoff)
        self.window = int(window)
        self.stride = int(stride)
        self._recent = np.zeros(self.window, np.int64)
        self._next = 0
        self._ignore = -IGNORED_SLICES_AFTER_DETECTION

    def update(self, probabilities: np.ndarray, time_ms: float) -> Any:
        from kwtui.core.postprocess import Detection

        found = None
        for slice_index in range(self.stride):
            self._ignore = min(self._ignore + 1, 0)
            if slice_index == self.stride - 1:  # the inference runs on the stride's last slice
                self._recent[self._next] = int(round(float(np.asarray(probabilities).reshape(-1)[0]) / OUTPUT_SCALE))
                self._next = (self._next + 1) % self.window
            average = float(self._recent.sum()) / (255.0 * self.window)
            if self._ignore >= 0 and average > self.cutoff and found is None:
                found = Detection(0, "", average, time_ms)
                self._recent[:] = 0
                self._ignore = -IGNORED_SLICES_AFTER_DETECTION
        return found
