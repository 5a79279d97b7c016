"""What ESPHome's micro_wake_word requires of a model and how it turns outputs into detections (its component
sources: the op resolver, the streaming model's input/output checks and its sliding-window average)."""

from __future__ import annotations

import numpy as np

# Registered by ESPHome's micro_wake_word (its op resolver); anything else fails to load on the device.
ESPHOME_OPS = frozenset({
    "CALL_ONCE", "VAR_HANDLE", "RESHAPE", "READ_VARIABLE", "STRIDED_SLICE", "CONCATENATION", "ASSIGN_VARIABLE",
    "CONV_2D", "MUL", "ADD", "MEAN", "FULLY_CONNECTED", "LOGISTIC", "QUANTIZE", "DEPTHWISE_CONV_2D",
    "AVERAGE_POOL_2D", "MAX_POOL_2D", "PAD", "PACK", "SPLIT_V"})
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
