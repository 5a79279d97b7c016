"""The firmware's streaming inference (src/app/inference.cpp: inference_run_stride, inference_reset), linked
against the TFLM the firmware pins (esp-tflite-micro + ESP-NN) with 4-byte pointers (g++ -m32), computes exactly
what kwtui's verification runtime (the `tflite-micro` Python package) computes, on streaming models made by kwtui's
real conversion (kwtui.core.model.build_stream -> streaming_module -> to_streaming_tflite: resource variables,
CALL_ONCE, uint8 output), a softmax over 6 classes and a one-sigmoid wake word, briefly trained.

Whole recordings (300 strides of 3 micro-frontend slices: 9 s; espeak-ng speech in noise, or structured random
features without espeak-ng) go stride after stride through both runtimes, each recording from a fresh state: a new
Python interpreter per recording, inference_reset() in the firmware. The uint8 outputs must be identical (0 steps).
Also: the arena the firmware needs fits the one in the model image; every arena below it, down to nothing, and a
model with an op the firmware does not register end in one `kwtui: error:` line and exit status 3, never a signal.

Needs the pinned sources (tests/helpers/firmware_runtime.py says where it looks); skips, saying why, without them.
"""

from __future__ import annotations

import importlib.metadata
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from kwtui.core.data import micro_frontend
from kwtui.core.device.model_image import build_model_image
from kwtui.core.tflite.arena_probe import runs_in_child, smallest_arena
from tests.helpers import firmware_runtime

pytestmark = pytest.mark.skipif(firmware_runtime.available() is not None, reason=str(firmware_runtime.available()))

RECORDINGS = 4
STRIDES_PER_RECORDING = 300  # 9 s at 3 slices (30 ms) per inference
ARENA_ALIGN = 16
ARENA_MARGIN_BYTES = 1024  # what `kwtui convert` adds to the smallest arena it measures
KEYWORDS = ("marvin", "seven", "left", "house")
OTHER_WORDS = ("table", "yellow", "window")
HAVE_ESPEAK = shutil.which("espeak-ng") is not None


@dataclass
class Streaming:
    kind: str
    tflite: bytes
    image: Path
    arena: int  # in the image: kwtui's measurement (64-bit Python TFLM) plus its margin
    stride: int
    outputs: int
    input_scale: float
    input_zero_point: int
    output_scale: float
    output_zero_point: int


# --- material: speech (espeak-ng) or structured random features -----------------------------------------------------


def _speech_clips(seed: int) -> tuple[list[np.ndarray], list[int]]:
    """1 s clips at 16 kHz and their classes: the keywords (0-3), other words (_unknown, 4), noise (_background, 5)."""
    from tests.helpers.corpus import noise, speech_clip

    rng = np.random.default_rng(seed)
    clips, labels = [], []
    for variant in range(5):
        for k, word in enumerate(KEYWORDS):
            clips.append(speech_clip(word, variant) * rng.uniform(0.3, 1.0))
            labels.append(k)
        clips.append(speech_clip(OTHER_WORDS[variant % len(OTHER_WORDS)], variant))
        labels.append(4)
        clips.append(noise(1.0, seed + variant, volume=rng.uniform(0.01, 0.3)))
        labels.append(5)
    return clips, labels


def _speech_recording(index: int) -> np.ndarray:
    """9 s and a bit of 16 kHz audio: a quiet noise floor with words (keywords and others) at random places."""
    from tests.helpers.corpus import noise, speech_clip

    rng = np.random.default_rng(100 + index)
    rate = micro_frontend.SAMPLE_RATE
    audio = noise(9.5, 200 + index, volume=rng.uniform(0.005, 0.05))
    at = int(rng.uniform(0.1, 0.8) * rate)
    while at + rate < len(audio):
        words = KEYWORDS + OTHER_WORDS
        word = words[int(rng.integers(len(words)))]
        audio[at : at + rate] += speech_clip(word, int(rng.integers(6))) * rng.uniform(0.2, 1.0)
        at += int(rng.uniform(1.1, 2.2) * rate)
    return np.clip(audio, -1.0, 1.0)


def _structured_features(rng: np.random.Generator, frames: int, label: int) -> np.ndarray:
    """Micro-frontend-like features without speech: a smooth spectral envelope per class that comes and goes,
    over a noise floor, in [0, 26]."""
    bins = np.arange(micro_frontend.CHANNELS)
    envelope = 12 * np.exp(-(((bins - 5 - 6 * label) / (3 + label)) ** 2))
    level = np.clip(np.sin(np.linspace(0, rng.uniform(2, 12), frames) + rng.uniform(0, 6)), 0, None)
    floor = rng.uniform(2, 6) + rng.normal(0, 0.8, (frames, micro_frontend.CHANNELS))
    return np.clip(floor + level[:, None] * envelope[None, :] * rng.uniform(0.5, 1.5), 0, 26).astype(np.float32)


def _training_features(seed: int) -> tuple[np.ndarray, np.ndarray]:
    if HAVE_ESPEAK:
        clips, labels = _speech_clips(seed)
        return np.stack([micro_frontend.micro_features(c) for c in clips]), np.asarray(labels)
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(6), 6)
    return np.stack([_structured_features(rng, micro_frontend.N_FRAMES, int(k)) for k in labels]), labels


@pytest.fixture(scope="module")
def recordings() -> np.ndarray:
    """(RECORDINGS, STRIDES_PER_RECORDING, 3, 40) float32 feature slices, each recording from a fresh frontend."""
    need = STRIDES_PER_RECORDING * 3
    rows = []
    for r in range(RECORDINGS):
        if HAVE_ESPEAK:
            slices = micro_frontend.FeatureStream().push(_speech_recording(r))
        else:
            rng = np.random.default_rng(300 + r)
            slices = np.concatenate([_structured_features(rng, 100, int(rng.integers(6))) for _ in range(need // 100)])
        assert len(slices) >= need, len(slices)
        rows.append(slices[:need].reshape(STRIDES_PER_RECORDING, 3, micro_frontend.CHANNELS))
    print("recordings:", "espeak-ng speech in noise" if HAVE_ESPEAK else "structured random features (no espeak-ng)")
    return np.stack(rows).astype(np.float32)


# --- the models --------------------------------------------------------------------------------------------------


def _make_streaming(kind: str, folder: Path) -> Streaming:
    from kwtui.core.native import import_tensorflow_quietly

    import_tensorflow_quietly()
    import keras

    from kwtui.core.model import build_model
    from kwtui.core.stages import esphome
    from kwtui.core.stages.convert import ARENA_LIMIT, io_quantization

    sigmoid = kind == "sigmoid"
    outputs = 1 if sigmoid else 6
    x, labels = _training_features(seed=1 if sigmoid else 2)
    y = (labels == 0).astype(np.float32) if sigmoid else labels
    keras.utils.set_random_seed(3)
    model = build_model("stream", outputs, sigmoid, 3e-3, seed=0, input_shape=(*micro_frontend.SHAPE, 1))
    model.fit(x[..., np.newaxis], y, epochs=25, batch_size=8, verbose=0)  # a few seconds: outputs that move
    module, stride = esphome.streaming_module(model)
    tflite = esphome.to_streaming_tflite(module, stride, x)
    path = folder / f"{kind}.tflite"
    path.write_bytes(tflite)
    measured = smallest_arena(lambda size: runs_in_child(path, size), 8 * 1024, ARENA_LIMIT, ARENA_ALIGN)
    assert measured is not None
    arena = -(-(measured + ARENA_MARGIN_BYTES) // ARENA_ALIGN) * ARENA_ALIGN
    quant = io_quantization(tflite)
    labels_ = ["marvin"] if sigmoid else [*KEYWORDS, "_unknown", "_background"]
    image = folder / f"{kind}_partition.bin"
    image.write_bytes(
        build_model_image(
            tflite,
            labels_,
            arena,
            len(labels_) if sigmoid else len(KEYWORDS),
            sigmoid_output=sigmoid,
            hop_ms=stride * micro_frontend.STEP_MS,
            frontend="micro",
            stride=stride,
            input_scale=quant["input_scale"],
            input_zero_point=quant["input_zero_point"],
            output_scale=quant["output_scale"],
            output_zero_point=quant["output_zero_point"],
        )
    )
    return Streaming(
        kind,
        tflite,
        image,
        arena,
        stride,
        outputs,
        quant["input_scale"],
        quant["input_zero_point"],
        quant["output_scale"],
        quant["output_zero_point"],
    )


@pytest.fixture(scope="module")
def tool() -> Path:
    return firmware_runtime.build()


@pytest.fixture(scope="module", params=["softmax", "sigmoid"])
def streaming(request, tmp_path_factory) -> Streaming:
    from kwtui.core.tflite import runtime_compat

    made = _make_streaming(request.param, tmp_path_factory.mktemp(f"stream-{request.param}"))
    assert made.stride == 3
    ops = set(runtime_compat.op_names(made.tflite))
    assert {"VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE", "CALL_ONCE"} <= ops <= set(runtime_compat.FIRMWARE_OPS)
    return made


def _python_tflm(model: Streaming, strides: np.ndarray) -> np.ndarray:
    """Raw outputs (n_strides, outputs) of a fresh tflite-micro interpreter fed `strides` in order, the input
    quantized as kwtui does for TFLM (convert.py _tflm_run: float32 x / scale + zero point, round half to even,
    clipped)."""
    from tflite_micro.python.tflite_micro import runtime

    interpreter = runtime.Interpreter.from_bytes(model.tflite, arena_size=model.arena)
    detail = interpreter.get_input_details(0)
    assert list(detail["shape"]) == [1, model.stride, micro_frontend.CHANNELS] and detail["dtype"] == np.int8
    rows = []
    for block in strides:
        q = np.clip(np.round(block / model.input_scale + model.input_zero_point), -128, 127).astype(np.int8)
        interpreter.set_input(q[np.newaxis], 0)
        interpreter.invoke()
        rows.append(np.asarray(interpreter.get_output(0)).reshape(-1).astype(np.int64))
    return np.stack(rows)


def _as_quantized(model: Streaming, probabilities: np.ndarray) -> np.ndarray:
    """The firmware's dequantized probabilities back to the model's uint8 outputs (exact: scale 1/256)."""
    q = probabilities / model.output_scale + model.output_zero_point
    assert np.abs(q - np.round(q)).max() < 1e-6
    return np.round(q).astype(np.int64)


def _errors(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("kwtui: error:")]


def _why(done: firmware_runtime.Outcome) -> str:
    return signal.Signals(-done.returncode).name if done.returncode < 0 else done.stdout[-600:] + done.stderr[-600:]


# --- the tests ---------------------------------------------------------------------------------------------------


def test_the_chip_runtime_streams_exactly_what_python_tflm_computes(tool, streaming, recordings):
    done = firmware_runtime.run_stream(tool, streaming.image, recordings)
    assert done.returncode == 0, _why(done)
    assert "pointer_bytes=4" in done.stdout and f"stride={streaming.stride}" in done.stdout
    on_chip = _as_quantized(streaming, done.probabilities).reshape(RECORDINGS, STRIDES_PER_RECORDING, -1)
    verified = np.stack([_python_tflm(streaming, r) for r in recordings])  # a fresh interpreter per recording
    assert on_chip.shape == verified.shape == (RECORDINGS, STRIDES_PER_RECORDING, streaming.outputs)
    steps = int(np.abs(on_chip - verified).max())
    print(
        f"{streaming.kind}: {RECORDINGS} recordings x {STRIDES_PER_RECORDING} strides, max difference {steps} "
        f"uint8 steps; outputs {verified.min()}..{verified.max()} ({len(np.unique(verified))} distinct values) | "
        f"firmware runtime esp-tflite-micro {firmware_runtime.pinned_versions()} | verification tflite-micro "
        f"{importlib.metadata.version('tflite-micro')}"
    )
    assert steps == 0
    # Meaningful only if the outputs move: the comparison covers many output values, not one constant.
    assert len(np.unique(verified)) >= 8 and verified.max() - verified.min() >= 100


def test_each_recording_starts_from_a_fresh_state(tool, streaming, recordings):
    """inference_reset is what makes recording 2 equal a fresh interpreter's: without it the firmware carries the
    state over (and then equals one Python interpreter fed every recording in a row)."""
    continuous = firmware_runtime.run_stream(tool, streaming.image, recordings.reshape(-1, streaming.stride, 40))
    assert continuous.returncode == 0, _why(continuous)
    carried = _as_quantized(streaming, continuous.probabilities)
    assert (carried == _python_tflm(streaming, recordings.reshape(-1, streaming.stride, 40))).all()
    fresh = np.concatenate([_python_tflm(streaming, r) for r in recordings])
    assert (carried != fresh).any()  # the state is real: the check above can fail


def test_the_image_arena_holds_what_the_chip_runtime_needs(tool, streaming):
    done = firmware_runtime.run_stream(tool, streaming.image, np.zeros((0, streaming.stride, 40)))
    assert done.returncode == 0, _why(done)
    smallest = smallest_arena(
        lambda size: (
            firmware_runtime.run_stream(
                tool, streaming.image, np.zeros((2, streaming.stride, 40)), arena=size
            ).returncode
            == 0
        ),
        4096,
        1 << 20,
        ARENA_ALIGN,
    )
    variables = int(done.stdout.split("state_variables=")[1].split()[0])
    print(
        f"{streaming.kind}: image arena {streaming.arena} B (kwtui: 64-bit Python TFLM minimum + "
        f"{ARENA_MARGIN_BYTES}), 32-bit pinned runtime: uses {done.arena_used} B, smallest arena {smallest} B; "
        f"{variables} state variables"
    )
    assert variables >= 1
    assert done.arena_used <= smallest <= streaming.arena


def test_an_arena_too_small_is_one_error_line_at_every_size(tool, streaming):
    """Every size from just below the smallest arena down to nothing, 16 bytes apart: TFLM 1.3.8 alone segfaults
    at many of them (inference.cpp's GuardedArena)."""
    smallest = smallest_arena(
        lambda size: (
            firmware_runtime.run_stream(
                tool, streaming.image, np.zeros((1, streaming.stride, 40)), arena=size
            ).returncode
            == 0
        ),
        4096,
        1 << 20,
        ARENA_ALIGN,
    )
    sizes = list(range(smallest - ARENA_ALIGN, 0, -ARENA_ALIGN)) + [smallest - 1, 1000, 100, 1, 0]
    for size in sizes:
        done = firmware_runtime.run_stream(tool, streaming.image, np.zeros((1, streaming.stride, 40)), arena=size)
        assert done.returncode == 3, (size, _why(done))
        errors = _errors(done.stdout)
        assert len(errors) == 1 and "arena" in errors[0], (size, done.stdout)
    print(f"{streaming.kind}: {len(sizes)} arenas below {smallest} B, each one error line")


def test_a_model_with_an_op_the_firmware_lacks_is_refused(tool, streaming, tmp_path):
    import flatbuffers
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(streaming.tflite, 0)
    [code] = [
        c
        for c in model.operatorCodes
        if max(c.builtinCode, c.deprecatedBuiltinCode) == schema.BuiltinOperator.STRIDED_SLICE
    ]
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.ADD
    builder = flatbuffers.Builder(len(streaming.tflite) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    image = tmp_path / "model_partition.bin"
    labels = [f"c{i}" for i in range(streaming.outputs)]
    image.write_bytes(
        build_model_image(
            bytes(builder.Output()),
            labels,
            streaming.arena,
            1,
            sigmoid_output=streaming.outputs == 1,
            hop_ms=30,
            frontend="micro",
            stride=streaming.stride,
        )
    )
    done = firmware_runtime.run_stream(tool, image, np.zeros((1, streaming.stride, 40)))
    assert done.returncode == 3, _why(done)
    errors = _errors(done.stdout)
    assert len(errors) == 1 and "the model uses op ADD, which this firmware does not register" in errors[0]


def test_a_header_that_does_not_match_the_model_is_refused(tool, streaming, tmp_path):
    """The header's frontend and stride (model image v2) must be the model's: a streaming model under a spectrogram
    header, or with another stride, would be fed the wrong features."""
    labels = [f"c{i}" for i in range(streaming.outputs)]
    for frontend, stride, hop_ms in (("spectrogram", 1, 100), ("micro", 2, 20)):
        image = tmp_path / f"{frontend}{stride}.bin"
        image.write_bytes(
            build_model_image(
                streaming.tflite,
                labels,
                streaming.arena,
                1,
                sigmoid_output=streaming.outputs == 1,
                hop_ms=hop_ms,
                frontend=frontend,
                stride=stride,
            )
        )
        done = firmware_runtime.run_stream(tool, image, np.zeros((1, streaming.stride, 40)))
        assert done.returncode == 3, _why(done)
        errors = _errors(done.stdout)
        assert len(errors) == 1 and "its header says" in errors[0], done.stdout


def test_a_damaged_model_in_a_crc_valid_image_is_one_error_line_never_a_crash(tool, streaming, tmp_path):
    """The image's CRC covers whatever bytes were written, so it cannot catch a model damaged before the image was
    built (a cut-off .tflite, changed bytes): the firmware verifies the flatbuffer before following any offset.
    A cut-off model and seeded byte changes in the flatbuffer's structure (its first 2 KB: offsets and tables) each
    end in one error line or run normally (a change inside the weights is still a valid model): never a signal."""
    labels = [f"c{i}" for i in range(streaming.outputs)]

    def image_of(model: bytes) -> Path:
        path = tmp_path / "model_partition.bin"
        path.write_bytes(
            build_model_image(
                model,
                labels,
                streaming.arena,
                1,
                sigmoid_output=streaming.outputs == 1,
                hop_ms=30,
                frontend="micro",
                stride=streaming.stride,
            )
        )
        return path

    strides = np.zeros((2, streaming.stride, 40), np.float32)
    cut = firmware_runtime.run_stream(tool, image_of(streaming.tflite[: len(streaming.tflite) // 2]), strides)
    assert cut.returncode == 3, _why(cut)
    assert _errors(cut.stdout) == [_errors(cut.stdout)[0]] and "the model is damaged" in _errors(cut.stdout)[0]
    rng = np.random.default_rng(17)
    refused = 0
    for _ in range(60):
        damaged = bytearray(streaming.tflite)
        for at in rng.integers(0, min(2048, len(damaged)), size=int(rng.integers(1, 4))):
            damaged[at] = int(rng.integers(0, 256))
        done = firmware_runtime.run_stream(tool, image_of(bytes(damaged)), strides)
        assert done.returncode in (0, 3), _why(done)
        if done.returncode == 3:
            assert len(_errors(done.stdout)) == 1, done.stdout[-600:]
            refused += 1
    assert refused >= 10, "most changes to the structure should be refused"


# --- damaged models: the firmware refuses them or runs them, never reads out of bounds ------------------------------

FUZZ_IMAGES = 80  # per model, bounded for CI; the same draw on every run (seeded)


@pytest.fixture(scope="module")
def sanitized_tool() -> Path:
    """inference_host with AddressSanitizer and UndefinedBehaviorSanitizer over the firmware and its pinned TFLM."""
    return firmware_runtime.build(sanitized=True)


def _sanitized_run(tool: Path, image: Path, strides: np.ndarray) -> firmware_runtime.Outcome:
    return firmware_runtime.run_stream(tool, image, strides, env=firmware_runtime.SANITIZER_ENV)


def test_the_chip_runtime_is_clean_under_the_sanitizers(sanitized_tool, streaming, recordings):
    """The model kwtui made, streamed under ASan/UBSan: no report, and the same outputs as the plain build."""
    done = _sanitized_run(sanitized_tool, streaming.image, recordings[0, :40])
    assert done.returncode == 0 and "Sanitizer" not in done.stderr and "runtime error" not in done.stderr, _why(done)
    assert done.probabilities.shape == (40, streaming.outputs)


def test_mutated_model_bytes_are_refused_or_run_never_out_of_bounds(sanitized_tool, streaming, recordings, tmp_path):
    """A partition image whose CRCs match but whose model bytes are damaged (a bad write, a hand-made image) must
    not crash the chip at every boot: the firmware's Verifier and bounds refuse it with one `kwtui: error:` line
    (exit 3, or 1 when an inference fails), or it runs; AddressSanitizer and UndefinedBehaviorSanitizer report
    nothing, over the firmware and its TFLM. (Without the Verifier, ~30 % of such images read out of bounds.)"""
    path = tmp_path / "mutated.bin"
    outcomes: dict[str, int] = {}
    for what, data in firmware_runtime.mutated_images(streaming.image.read_bytes(), FUZZ_IMAGES, seed=11):
        path.write_bytes(data)
        done = _sanitized_run(sanitized_tool, path, recordings[0, :8])
        report = "Sanitizer" in done.stderr or "runtime error" in done.stderr
        assert not report and done.returncode in (0, 1, 3), f"{what}: {_why(done)}"
        if done.returncode:
            assert len(_errors(done.stdout)) == 1, f"{what}: {done.stdout[-600:]}"
        outcomes[("ran", "failed", "", "refused")[done.returncode]] = (
            outcomes.get(("ran", "failed", "", "refused")[done.returncode], 0) + 1
        )
    print(f"{FUZZ_IMAGES} mutated {streaming.kind} images:", outcomes)
    assert outcomes.get("refused", 0) > 0  # the mutations do reach the checks
