"""What the firmware's pinned TensorFlow Lite Micro runtime implements, checked on every converted model.

kwtui verifies models in the `tflite-micro` Python package (current TFLM). The firmware links a pinned TFLM
(firmware/src/idf_component.yml); a model may only use what that runtime implements, or the chip computes other
numbers than the verification did. The pin and kwtui's rules for it are stated here and checked against the
flatbuffer itself:
- only the ops the firmware's MicroMutableOpResolver registers (firmware/src/app/inference.cpp): those of the
  whole-window models and, for the streaming models, the resource-variable ops (VAR_HANDLE, READ_VARIABLE,
  ASSIGN_VARIABLE, CALL_ONCE) and the CONCATENATION / STRIDED_SLICE that shift their state;
- FULLY_CONNECTED weights with one (per-tensor) scale. The pinned ESP-NN FC kernel also takes per-channel scales,
  but TFLM builds for Arduino (e.g. TensorFlowLite_ESP32 1.0.0, which this firmware linked before) read only the
  first channel's scale and give wrong outputs without an error; per-tensor is right in every runtime;
- TFLite schema version 3.
"""

from __future__ import annotations

from dataclasses import dataclass

# The runtime the firmware links (firmware/src/idf_component.yml) and kwtui's rules for it.
FIRMWARE_RUNTIME = "espressif/esp-tflite-micro 1.3.8 with espressif/esp-nn 1.2.0 (ESP-IDF component registry)"
FIRMWARE_OPS = (
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "MAX_POOL_2D",
    "AVERAGE_POOL_2D",
    "RESHAPE",
    "FULLY_CONNECTED",
    "SOFTMAX",
    "LOGISTIC",
    "MEAN",
    "QUANTIZE",
    "DEQUANTIZE",
    # streaming models: state in resource variables (created from the arena), set up once by CALL_ONCE
    "VAR_HANDLE",
    "READ_VARIABLE",
    "ASSIGN_VARIABLE",
    "CALL_ONCE",
    "CONCATENATION",
    "STRIDED_SLICE",
)
PER_CHANNEL_FULLY_CONNECTED = False
SCHEMA_VERSION = 3


@dataclass(frozen=True)
class Incompatibility:
    what: str

    def __str__(self) -> str:
        return self.what


def _builtin_names() -> dict[int, str]:
    from tensorflow.lite.python import schema_py_generated as schema

    return {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}


def incompatibilities(tflite: bytes) -> list[Incompatibility]:
    """Everything in the flatbuffer the pinned firmware runtime lacks (empty when the model is compatible)."""
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(tflite, 0)
    names = _builtin_names()
    found: list[Incompatibility] = []
    if model.version != SCHEMA_VERSION:
        found.append(Incompatibility(f"schema version {model.version} (the runtime reads {SCHEMA_VERSION})"))
    codes = []
    for code in model.operatorCodes:
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        codes.append(names.get(builtin, f"builtin {builtin}") if not code.customCode else f"custom {code.customCode!r}")
    for op in sorted(set(codes) - set(FIRMWARE_OPS)):
        found.append(Incompatibility(f"op {op} (not registered by the firmware)"))
    for graph in model.subgraphs:
        for operator in graph.operators:
            if codes[operator.opcodeIndex] != "FULLY_CONNECTED" or PER_CHANNEL_FULLY_CONNECTED:
                continue
            weights = graph.tensors[operator.inputs[1]]
            quant = weights.quantization
            if quant is not None and quant.scale is not None and len(quant.scale) > 1:
                found.append(
                    Incompatibility(
                        f"FULLY_CONNECTED weights {weights.name.decode(errors='replace')!r} quantized per channel "
                        f"({len(quant.scale)} scales; the runtime uses one)"
                    )
                )
    return found


def op_names(tflite: bytes) -> list[str]:
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(tflite, 0)
    names = _builtin_names()
    return sorted({names.get(max(c.builtinCode, c.deprecatedBuiltinCode), "?") for c in model.operatorCodes})
