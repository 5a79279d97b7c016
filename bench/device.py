"""Device compute per model kind: what one inference and one second of audio cost on the chip.

Run: .venv/bin/python bench/device.py [--hop-ms 100]

For each model kind (kwtui.core.model.MODELS) with the default classes (4 keywords + _unknown + _background):
int8 conversion with random calibration data (sizes and MACs do not depend on the weights' values), model bytes,
the minimum tensor arena measured in TFLite Micro (Python package, 64-bit host), MACs per inference and per second
of audio at one inference per hop, and the estimated milliseconds per inference on an ESP32 / ESP32-S3 at 240 MHz
with and without ESP-NN (kwtui.core.device.compute: derived from Espressif's published ESP-NN kernel timings; the
figures without ESP-NN are a lower bound for TFLM's reference kernels). Flags a model whose estimate exceeds the hop.
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
    from kwtui.core.stages.convert import minimal_arena, to_tflite

    n_outputs = 6
    calibration = np.random.default_rng(0).normal(-3.0, 1.5, (64, *SHAPE, 1)).astype(np.float32)
    header = (f"{'model':<8}{'params':>9}{'int8 B':>9}{'arena B':>9}{'MACs/inf':>11}{'MACs/s audio':>14}"
              f"{'ESP32 ms':>10}{'+ESP-NN':>9}{'S3 ms':>8}{'S3+NN':>8}  per hop of {args.hop_ms:g} ms")
    print(header)
    for kind in MODELS:
        model = build_model(kind, n_outputs, False, 0.001, seed=0)
        clone = inference_clone(model, kind, n_outputs, False)
        tflite = to_tflite(clone, calibration, "int8")
        with quiet_native_output():
            arena = minimal_arena(tflite)
        summary = compute_summary(tflite, args.hop_ms)
        ms = summary["estimated_ms"]
        late = " over the hop" if ms["esp32"] > args.hop_ms else ""
        print(f"{kind:<8}{model.count_params():>9,}{len(tflite):>9,}{arena:>9,}{summary['macs_per_inference']:>11,}"
              f"{summary['macs_per_second']:>14,}{ms['esp32']:>10.1f}{ms['esp32_esp_nn']:>9.1f}{ms['esp32s3']:>8.1f}"
              f"{ms['esp32s3_esp_nn']:>8.1f}{late}")


if __name__ == "__main__":
    main()
