"""Device compute per model kind: what one inference and one second of audio cost on the chip.

Run: .venv/bin/python bench/device.py [--hop-ms 100]

First the streaming model (the default of every shipped preset) as each shipped preset builds it (its classes),
converted by kwtui's one streaming path (kwtui/core/streaming.py) and run every 30 ms stride; then the legacy
whole-window models at one inference per --hop-ms.

For each model kind (kwtui.core.model.MODELS) with the default classes (4 keywords + _unknown + _background):
int8 conversion with random calibration data (sizes and MACs do not depend on the weights' values), model bytes,
the minimum tensor arena measured in TFLite Micro (Python package, 64-bit host), MACs per inference and per second
of audio at one inference per hop, and the estimated milliseconds per inference on an ESP32 / ESP32-S3 at 240 MHz
with and without ESP-NN (kwtui.core.device.compute: derived from Espressif's published ESP-NN kernel timings; the
figures without ESP-NN are a lower bound for TFLM's reference kernels). Flags a model whose estimate exceeds the hop.

Where the firmware's pinned TFLM sources are on the machine (tests/helpers/firmware_runtime.py), also the minimum
arena with 4-byte pointers in that runtime (the firmware's inference code built -m32) and the largest difference,
in int8 steps, between its outputs and the Python package's on 16 windows.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hop-ms", type=float, default=100.0)
    args = parser.parse_args()

    from kwtui.core.native import import_tensorflow_quietly

    import_tensorflow_quietly()
    import numpy as np

    from kwtui.core.data.spectrogram import SHAPE
    from kwtui.core.device.compute import compute_summary
    from kwtui.core.model import MODELS, build_model, inference_clone
    from kwtui.core.native import quiet_native_output
    from kwtui.core.stages.convert import minimal_arena
    from kwtui.core.tflite.converter import to_tflite
    from tests.helpers import firmware_runtime

    pinned = firmware_runtime.available() is None
    tool = firmware_runtime.build() if pinned else None
    if not pinned:
        print(f"(no 32-bit column: {firmware_runtime.available()})")
    _streaming_presets(tool)

    n_outputs = 6
    calibration = np.random.default_rng(0).normal(-3.0, 1.5, (64, *SHAPE, 1)).astype(np.float32)
    header = (
        f"{'model':<8}{'params':>9}{'int8 B':>9}{'arena B':>9}{'arena32':>9}{'steps':>6}{'MACs/inf':>11}"
        f"{'MACs/s audio':>14}"
        f"{'ESP32 ms':>10}{'+ESP-NN':>9}{'S3 ms':>8}{'S3+NN':>8}  per hop of {args.hop_ms:g} ms"
    )
    print(header)
    for kind in (k for k in MODELS if k != "stream"):  # stream: ESPHome's runtime (bench/esphome.py)
        model = build_model(kind, n_outputs, False, 0.001, seed=0)
        clone = inference_clone(model, kind, n_outputs, False)
        tflite = to_tflite(clone, calibration, "int8")
        with quiet_native_output():
            arena = minimal_arena(tflite)
        summary = compute_summary(tflite, args.hop_ms)
        ms = summary["estimated_ms"]
        late = " over the hop" if ms["esp32_esp_nn"] > args.hop_ms else ""
        arena32, steps = _pinned_runtime(tool, tflite, arena, calibration[:16, ..., 0]) if pinned else ("-", "-")
        print(
            f"{kind:<8}{model.count_params():>9,}{len(tflite):>9,}{arena:>9,}{arena32:>9,}{steps:>6}"
            f"{summary['macs_per_inference']:>11,}"
            f"{summary['macs_per_second']:>14,}{ms['esp32']:>10.1f}{ms['esp32_esp_nn']:>9.1f}{ms['esp32s3']:>8.1f}"
            f"{ms['esp32s3_esp_nn']:>8.1f}{late}"
        )


def _streaming_presets(tool) -> None:
    """The default model of each shipped preset: its streaming int8 graph, per 30 ms stride."""
    import tempfile

    import numpy as np

    from kwtui.core.device.compute import compute_summary
    from kwtui.core.device.model_image import build_model_image
    from kwtui.core.model import STREAM_HOP_MS, build_model
    from kwtui.core.preset import load_preset, shipped_presets_dir
    from kwtui.core.streaming import clip_strides, stream_outputs, streaming_module, to_streaming_tflite
    from kwtui.core.tflite.arena_probe import measured_arena
    from tests.helpers import firmware_runtime

    print(
        f"{'preset':<10}{'outputs':>8}{'params':>9}{'int8 B':>9}{'arena B':>9}{'arena32':>9}{'steps':>6}"
        f"{'MACs/inf':>10}{'MACs/s':>11}{'ESP32 ms':>10}{'% core':>8}{'S3+NN ms':>10}  per {STREAM_HOP_MS} ms stride"
    )
    clips = np.random.default_rng(0).uniform(0, 26, (32, 98, 40)).astype(np.float32)
    for name in ("commands", "marvin", "esphome"):
        preset = load_preset(shipped_presets_dir() / f"{name}.toml")
        outputs, sigmoid_units = preset.model_outputs
        model = build_model("stream", outputs, sigmoid_units, 0.001, seed=0, input_shape=(98, 40, 1))
        module, stride = streaming_module(model)
        tflite = to_streaming_tflite(module, stride, clips)
        arena = measured_arena(tflite, 8 * 1024, 1 << 20, 16)
        summary = compute_summary(tflite, STREAM_HOP_MS)
        ms = summary["estimated_ms"]
        arena32, steps = "-", "-"
        if tool is not None:
            from tflite_micro.python.tflite_micro import runtime

            labels = [f"c{i}" for i in range(max(outputs, 1))]
            with tempfile.TemporaryDirectory() as folder:
                image = Path(folder) / "model_partition.bin"
                image.write_bytes(
                    build_model_image(
                        tflite,
                        labels,
                        arena + 1024,
                        1,
                        sigmoid_output=outputs == 1,
                        input_scale=26 / 255,
                        input_zero_point=-128,
                        output_scale=1 / 256,
                        frontend="micro",
                        stride=stride,
                        hop_ms=STREAM_HOP_MS,
                    )
                )
                strides = np.stack([clip_strides(c, stride) for c in clips[:4]])  # 4 clips, fresh state each
                done = firmware_runtime.run_stream(tool, image, strides)
                on_chip = done.probabilities
                arena32 = done.arena_used
            python = np.concatenate(
                [stream_outputs(runtime.Interpreter.from_bytes(tflite, arena_size=arena), r) for r in strides]
            )
            steps = int(round(np.abs(on_chip - python).max() * 256))
        print(
            f"{name:<10}{outputs:>8}{model.count_params():>9,}{len(tflite):>9,}{arena:>9,}{arena32:>9,}{steps:>6}"
            f"{summary['macs_per_inference']:>10,}{summary['macs_per_second']:>11,}{ms['esp32_esp_nn']:>10.2f}"
            f"{100 * ms['esp32_esp_nn'] / STREAM_HOP_MS:>7.1f}%{ms['esp32s3_esp_nn']:>10.2f}"
        )
    print()


def _pinned_runtime(tool, tflite: bytes, arena: int, windows) -> tuple[int, int]:
    """(minimum arena with 4-byte pointers, largest output difference in int8 steps vs the Python TFLM)."""
    import tempfile

    import numpy as np

    from kwtui.core.device.model_image import build_model_image
    from kwtui.core.stages.convert import ARENA_ALIGN, io_quantization, tflm_predict
    from kwtui.core.tflite.arena_probe import smallest_arena
    from tests.helpers import firmware_runtime

    quant = io_quantization(tflite)
    with tempfile.TemporaryDirectory() as folder:
        image = Path(folder) / "model_partition.bin"
        image.write_bytes(
            build_model_image(
                tflite,
                [f"c{i}" for i in range(6)],
                arena + 1024,
                4,
                input_scale=quant["input_scale"],
                input_zero_point=quant["input_zero_point"],
                output_scale=quant["output_scale"],
                output_zero_point=quant["output_zero_point"],
            )
        )
        smallest = smallest_arena(
            lambda size: firmware_runtime.run(tool, image, arena=size).returncode == 0, 4096, 1 << 22, ARENA_ALIGN
        )
        on_chip = firmware_runtime.run(tool, image, windows).probabilities
    verified = tflm_predict(tflite, arena, windows[..., np.newaxis], quant)
    return smallest, int(round(np.abs(on_chip - verified).max() / quant["output_scale"]))


if __name__ == "__main__":
    main()
