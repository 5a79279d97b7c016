"""The firmware's own inference code, linked against the TFLM the firmware pins (esp-tflite-micro + ESP-NN,
firmware/src/idf_component.yml) and built with 4-byte pointers (g++ -m32) as on the ESP32, on a model kwtui really
trained and converted: it computes what kwtui verified, fits the arena in the model header, and a model that
cannot run ends in one error line, never a crash.

Needs the pinned sources (tests/helpers/firmware_runtime.py says where it looks); skips, saying why, without them.
"""

from __future__ import annotations

import importlib.metadata
import signal

import numpy as np
import pytest

from kwtui.core.device.model_image import build_model_image
from kwtui.core.features.store import load_batch, load_splits
from kwtui.core.io.layout import RunLayout
from kwtui.core.stages.convert import ARENA_ALIGN, io_quantization, tflm_predict
from kwtui.core.stages.flash import load_converted_model, model_image_from_run
from kwtui.core.tflite.arena_probe import smallest_arena
from tests.helpers import firmware_runtime

pytestmark = pytest.mark.skipif(firmware_runtime.available() is not None, reason=str(firmware_runtime.available()))


@pytest.fixture(scope="module")
def device(trained_run, tmp_path_factory):
    tool = firmware_runtime.build()
    layout = RunLayout(trained_run)
    image = tmp_path_factory.mktemp("image") / "model_partition.bin"
    image.write_bytes(model_image_from_run(layout))
    tflite, meta = load_converted_model(layout)
    windows = load_batch(load_splits(layout, ("test",))["test"].paths)[..., 0]
    smallest = smallest_arena(
        lambda size: firmware_runtime.run(tool, image, arena=size).returncode == 0, 4096, 1 << 20, ARENA_ALIGN
    )
    print(
        "firmware runtime: esp-tflite-micro",
        firmware_runtime.pinned_versions(),
        "| verification: tflite-micro",
        importlib.metadata.version("tflite-micro"),
        "| header arena",
        meta["arena_bytes"],
        "| 64-bit minimum (kwtui)",
        meta["arena_min_bytes"],
        "| 32-bit minimum (pinned runtime)",
        smallest,
    )
    return tool, image, tflite, meta, windows, smallest


def test_the_chip_runtime_computes_what_kwtui_verified(device):
    tool, image, tflite, meta, windows, _ = device
    done = firmware_runtime.run(tool, image, windows)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "pointer_bytes=4" in done.stdout
    on_chip = done.probabilities
    verified = tflm_predict(tflite, int(meta["arena_bytes"]), windows[..., np.newaxis], io_quantization(tflite))
    assert on_chip.shape == verified.shape and len(on_chip) >= 10
    steps = np.abs(on_chip - verified).max() / io_quantization(tflite)["output_scale"]
    print(f"{len(on_chip)} test clips: max difference {steps:.0f} int8 steps")
    assert steps <= 1
    assert (on_chip.argmax(1) == verified.argmax(1)).all()


def test_the_header_arena_fits_the_chip_with_its_margin(device):
    _, _, _, meta, _, smallest = device
    # The allocation model kwtui states: the minimum measured in the 64-bit Python TFLM is at least the chip's.
    assert meta["arena_min_bytes"] >= smallest
    assert meta["arena_bytes"] >= smallest + 512


def test_an_arena_too_small_is_one_error_line_not_a_crash(device):
    tool, image, *_, smallest = device
    for size in [smallest - ARENA_ALIGN * k for k in range(1, 9)] + [smallest // 2, 4096, 2048, 100]:
        done = firmware_runtime.run(tool, image, arena=size)
        assert done.returncode == 3, (
            size,
            done.returncode,
            signal.Signals(-done.returncode).name if done.returncode < 0 else done.stdout,
        )
        errors = [line for line in done.stdout.splitlines() if line.startswith("kwtui: error:")]
        assert len(errors) == 1 and "arena" in errors[0], done.stdout


def test_no_heap_for_the_arena_is_one_error_line(device, monkeypatch):
    tool, image, _, meta, *_ = device
    monkeypatch.setenv("KWT_HOST_HEAP_BYTES", str(meta["arena_bytes"] - 1))
    done = firmware_runtime.run(tool, image)
    assert done.returncode == 3
    assert "kwtui: error: no memory for a" in done.stdout and "largest free block" in done.stdout


def test_a_model_with_an_op_the_firmware_lacks_is_refused_before_allocating(device, tmp_path):
    import flatbuffers
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    tool, _, tflite, meta, *_ = device
    model = schema.ModelT.InitFromPackedBuf(tflite, 0)
    model.operatorCodes[0].builtinCode = model.operatorCodes[0].deprecatedBuiltinCode = schema.BuiltinOperator.ADD
    builder = flatbuffers.Builder(len(tflite) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    image = tmp_path / "model_partition.bin"
    image.write_bytes(
        build_model_image(
            bytes(builder.Output()), list(meta["labels"]), int(meta["arena_bytes"]), int(meta["num_keywords"])
        )
    )
    done = firmware_runtime.run(tool, image)
    assert done.returncode == 3
    assert "kwtui: error: the model uses op ADD, which this firmware does not register" in done.stdout
