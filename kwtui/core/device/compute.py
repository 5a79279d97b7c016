"""What one inference costs on the chip: MACs per op from the converted flatbuffer, and an estimate of the
milliseconds on an ESP32 / ESP32-S3 at 240 MHz, with and without Espressif's ESP-NN kernels.

The estimate multiplies each op's MACs by a cycles-per-MAC figure derived from Espressif's published kernel
timings: the ESP-NN README, "Kernelwise performance for s8 versions" (ESP32-S3 at 240 MHz, ticks per kernel,
ANSI C = the portable reference kernels vs. ESP32-S3 optimised), e.g.
  convolution input (10,10) filter 64x1x1x64: 4,663,012 vs 428,675 ticks for 409,600 MACs -> 11.4 / 1.05 cycles
  convolution input (8,8) filter 16x1x1x16:     301,014 vs  32,433 ticks for  16,384 MACs -> 18.4 / 1.98
  convolution input (10,10) filter 64x3x3x3:  2,115,418 vs 1,020,923 ticks for 110,592 MACs -> 19.1 / 9.2
  depthwise conv input (18,18) 1x3x3x16:      1,190,062 vs 203,278 ticks for 36,864 MACs -> 32.3 / 5.5
  fully connected len 265, 3 ch:                 15,853 vs   9,547 ticks for     795 MACs -> 19.9 / 12.0
  max pool / avg pool input (16,16) 3x3x16:     485,714 / 541,462 vs 76,747 / 160,580 for 28,224 -> 17.2 / 19.2, 2.7 / 5.7
The ESP32 (LX6, no vector unit) has no published ESP-NN figures; ESP-NN runs its C kernels there, so the ESP32 is
taken at the ANSI C figures with or without ESP-NN. kwtui's firmware links ESP-NN (esp-tflite-micro), so the
"_esp_nn" figures are the ones for it; TFLM's portable reference kernels are slower than ESP-NN's C kernels, so the
figures without ESP-NN are a lower bound for a firmware that links only those. An estimate, not a measurement: the
firmware prints its measured inference time (the TIMING line).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CLOCK_HZ = 240e6
# (reference kernels, ESP32-S3 with ESP-NN) cycles per MAC, by op and shape class (see the module docstring)
_CYCLES = {
    "conv_few_channels": (19.1, 9.2),  # input channels < 8 (e.g. the first layer on a 1-channel spectrogram)
    "conv": (18.4, 1.98),  # the 16-channel row: the conservative one of the two many-channel rows
    "depthwise": (32.3, 5.5),
    "fully_connected": (19.9, 12.0),
    "max_pool": (17.2, 2.7),
    "avg_pool": (19.2, 5.7),
}
CHIPS = ("esp32", "esp32s3")


@dataclass(frozen=True)
class OpCost:
    op: str
    kind: str
    macs: int


def op_costs(tflite: bytes) -> list[OpCost]:
    """MACs (or comparisons, for pooling) of every compute op of the model's main graph."""
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(tflite, 0)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    graph = model.subgraphs[0]
    costs = []
    for operator in graph.operators:
        code = model.operatorCodes[operator.opcodeIndex]
        op = names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "?")
        if op not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "MAX_POOL_2D", "AVERAGE_POOL_2D"):
            continue  # no MACs worth counting (and state ops such as ASSIGN_VARIABLE have no output)
        out = _shape(graph, operator.outputs[0])
        if op == "CONV_2D":
            kernel = _shape(graph, operator.inputs[1])  # [out_c, kh, kw, in_c]
            macs = _prod(out) * kernel[1] * kernel[2] * kernel[3]
            costs.append(OpCost(op, "conv_few_channels" if kernel[3] < 8 else "conv", int(macs)))
        elif op == "DEPTHWISE_CONV_2D":
            kernel = _shape(graph, operator.inputs[1])  # [1, kh, kw, out_c]
            costs.append(OpCost(op, "depthwise", _prod(out) * kernel[1] * kernel[2]))
        elif op == "FULLY_CONNECTED":
            weights = _shape(graph, operator.inputs[1])  # [units, in]
            costs.append(OpCost(op, "fully_connected", _prod(out[:-1]) * int(weights[0]) * int(weights[1])))
        elif op in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
            options = operator.builtinOptions
            window = int(options.filterHeight) * int(options.filterWidth)
            costs.append(OpCost(op, "max_pool" if op == "MAX_POOL_2D" else "avg_pool", _prod(out) * window))
    return costs


def _shape(graph: Any, index: int) -> list[int]:
    return [int(v) for v in graph.tensors[index].shape]


def _prod(values: list[int]) -> int:
    result = 1
    for v in values:
        result *= max(1, int(v))
    return int(result)


def estimated_ms(costs: list[OpCost], chip: str, esp_nn: bool) -> float:
    """Milliseconds per inference at 240 MHz (see the module docstring for where the figures come from)."""
    optimised = esp_nn and chip == "esp32s3"
    cycles = sum(c.macs * _CYCLES[c.kind][1 if optimised else 0] for c in costs)
    return 1000.0 * cycles / CLOCK_HZ


def compute_summary(tflite: bytes, hop_ms: float) -> dict[str, Any]:
    """MACs per inference and per second of audio (one inference per hop), and the estimates per chip."""
    costs = op_costs(tflite)
    macs = int(sum(c.macs for c in costs))
    estimates = {
        f"{chip}{'_esp_nn' if nn else ''}": round(float(estimated_ms(costs, chip, nn)), 1)
        for chip in CHIPS
        for nn in (False, True)
    }
    return {"macs_per_inference": macs, "macs_per_second": int(macs * 1000 / hop_ms), "estimated_ms": estimates}
