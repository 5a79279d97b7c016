"""Model partition image: built in Python, read back by Python and by the firmware's C++ parser (host build).

Verified here: header layout, CRCs, 16-byte model alignment, every field as the C++ sees it, and rejection of
corrupted images (bad magic, erased flash, bad CRCs, truncated). Not verified here: reading the partition
through esp_partition_mmap on a real ESP32.
"""

from __future__ import annotations

import struct
import subprocess
import zlib

import numpy as np
import pytest

from kwtui.core.device.model_image import (
    FIXED_SIZE,
    MAGIC,
    ModelImageError,
    build_model_image,
    parse_model_image,
)

LABELS = ["marvin", "sheila", "_unknown", "_background"]
PARAMS = dict(
    sigmoid_output=True,
    threshold=0.85,
    average_window=4,
    refractory_ms=1500,
    hop_ms=100,
    input_scale=0.0234375,
    input_zero_point=-128,
    output_scale=1 / 256,
    output_zero_point=-128,
)


@pytest.fixture
def tflite_bytes() -> bytes:
    # Real .tflite files start with a flatbuffer offset and "TFL3"; the content is opaque to the image.
    rng = np.random.default_rng(5)
    return b"\x1c\x00\x00\x00TFL3" + rng.integers(0, 256, 70_000, dtype=np.uint8).tobytes()


def cpp_parse(tool, image: bytes, tmp_path) -> tuple[int, dict[str, str]]:
    path = tmp_path / "model_partition.bin"
    path.write_bytes(image)
    done = subprocess.run([str(tool), str(path)], capture_output=True, text=True)
    fields = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    return done.returncode, fields


def test_layout_header_alignment_and_crc(tflite_bytes):
    image = build_model_image(tflite_bytes, LABELS, 23_456, 2, **PARAMS)
    assert image[:4] == MAGIC
    header_size = struct.unpack_from("<H", image, 6)[0]
    assert header_size % 16 == 0 and header_size >= FIXED_SIZE + sum(len(x) + 1 for x in LABELS)
    assert image[header_size:] == tflite_bytes
    assert struct.unpack_from("<II", image, 8) == (len(tflite_bytes), zlib.crc32(tflite_bytes))
    assert image[FIXED_SIZE : FIXED_SIZE + 7] == b"marvin\0"


def test_python_round_trip(tflite_bytes):
    parsed = parse_model_image(build_model_image(tflite_bytes, LABELS, 23_456, 2, **PARAMS))
    assert parsed.model == tflite_bytes and parsed.labels == LABELS
    assert (parsed.arena_size, parsed.num_keywords, parsed.sigmoid_output) == (23_456, 2, True)
    assert parsed.threshold == pytest.approx(0.85) and parsed.average_window == 4
    assert (parsed.refractory_ms, parsed.hop_ms) == (1500, 100)
    assert (parsed.input_zero_point, parsed.output_zero_point) == (-128, -128)
    assert parsed.input_scale == pytest.approx(0.0234375) and parsed.output_scale == pytest.approx(1 / 256)


def test_cpp_parser_reads_every_field(host_tools, tflite_bytes, tmp_path):
    image = build_model_image(tflite_bytes, LABELS, 23_456, 2, **PARAMS)
    code, f = cpp_parse(host_tools["model_image_host"], image, tmp_path)
    assert code == 0 and f["status"] == "ok"
    header_size = struct.unpack_from("<H", image, 6)[0]
    assert int(f["version"]) == 2 and int(f["header_size"]) == header_size
    assert int(f["model_offset"]) == header_size and header_size % 16 == 0
    assert int(f["model_len"]) == len(tflite_bytes)
    assert int(f["model_crc32"]) == int(f["model_bytes_crc32"]) == zlib.crc32(tflite_bytes)
    assert int(f["arena_size"]) == 23_456
    assert (int(f["num_classes"]), int(f["num_keywords"]), int(f["sigmoid_output"])) == (4, 2, 1)
    assert float(f["threshold"]) == pytest.approx(0.85, abs=1e-7) and int(f["average_window"]) == 4
    assert (int(f["refractory_ms"]), int(f["hop_ms"])) == (1500, 100)
    assert float(f["input_scale"]) == pytest.approx(0.0234375) and int(f["input_zero_point"]) == -128
    assert float(f["output_scale"]) == pytest.approx(1 / 256) and int(f["output_zero_point"]) == -128
    assert [f[f"label{i}"] for i in range(4)] == LABELS


def test_cpp_accepts_trailing_erased_flash(host_tools, tflite_bytes, tmp_path):
    """The firmware maps the whole partition: bytes after the image are 0xFF."""
    image = build_model_image(tflite_bytes, LABELS, 23_456, 2, **PARAMS) + b"\xff" * 8192
    assert cpp_parse(host_tools["model_image_host"], image, tmp_path)[1]["status"] == "ok"
    assert parse_model_image(image).model == tflite_bytes


def _corruptions(image: bytes) -> dict[str, tuple[bytes, str]]:
    header_size = struct.unpack_from("<H", image, 6)[0]

    def flipped(offset: int) -> bytes:
        data = bytearray(image)
        data[offset] ^= 0x01
        return bytes(data)

    def resealed_version(version: int) -> bytes:
        data = bytearray(image)
        struct.pack_into("<H", data, 4, version)
        return bytes(data)

    return {
        "bad_magic": (b"XXXX" + image[4:], "bad_magic"),
        "erased_partition": (b"\xff" * len(image), "bad_magic"),
        "future_version": (resealed_version(3), "bad_version"),
        "flipped_label_byte": (flipped(FIXED_SIZE + 2), "bad_header_crc"),
        "flipped_arena_size": (flipped(16), "bad_header_crc"),
        "flipped_model_byte": (flipped(header_size + 5000), "bad_model_crc"),
        "truncated_model": (image[:-100], "truncated"),
        "truncated_header": (image[:40], "too_small"),
        "header_only": (image[:header_size], "truncated"),
    }


CORRUPTIONS = [
    "bad_magic",
    "erased_partition",
    "future_version",
    "flipped_label_byte",
    "flipped_arena_size",
    "flipped_model_byte",
    "truncated_model",
    "truncated_header",
    "header_only",
]


@pytest.mark.parametrize("case", CORRUPTIONS)
def test_corrupted_images_are_rejected_by_cpp_and_python(host_tools, tflite_bytes, tmp_path, case):
    image = build_model_image(tflite_bytes, LABELS, 23_456, 2, **PARAMS)
    data, expected_status = _corruptions(image)[case]
    code, fields = cpp_parse(host_tools["model_image_host"], data, tmp_path)
    assert code == 1 and fields["status"] == expected_status
    with pytest.raises(ModelImageError):
        parse_model_image(data)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(labels=[]), "classes"),
        (dict(num_keywords=5), "num_keywords"),
        (dict(labels=["two\nlines", "b"]), "label"),
        (dict(labels=["x" * 40, "b"]), "label"),
        (dict(arena_size=0), "arena_size"),
        (dict(average_window=17), "average_window"),
        (dict(threshold=1.5), "threshold"),
        (dict(threshold=float("nan")), "threshold"),
        (dict(threshold=[0.5, 0.6]), "2 values for 1 keywords"),
        (dict(hop_ms=1), "hop_ms"),
        (dict(hop_ms=100_000), "hop_ms"),
        (dict(refractory_ms=10**9), "refractory_ms"),
        (dict(frontend="micro", stride=3, hop_ms=100), "hop_ms"),
        (dict(frontend="micro", stride=9, hop_ms=90), "stride"),
        (dict(frontend="spectrogram", stride=3), "stride"),
        (dict(frontend="mfcc"), "frontend"),
    ],
)
def test_builder_rejects_values_the_firmware_cannot_take(tflite_bytes, kwargs, message):
    args = dict(labels=["marvin", "_unknown"], arena_size=1000, num_keywords=1) | kwargs
    with pytest.raises(ModelImageError, match=message):
        build_model_image(tflite_bytes, args.pop("labels"), args.pop("arena_size"), args.pop("num_keywords"), **args)


def test_real_tflite_model_runs_from_the_image_bytes(host_tools, tmp_path):
    """A real .tflite (shipped with tflite-micro) goes through the image; the bytes the C++ parser points at
    are the model, 16-byte aligned, and TFLite Micro runs them."""
    from pathlib import Path

    import tflite_micro
    from tflite_micro.python.tflite_micro import runtime

    model = (Path(tflite_micro.__file__).parent / "python/tflite_micro/sine_float.tflite").read_bytes()
    image = build_model_image(model, ["sine"], 4096, 1, sigmoid_output=True)
    code, fields = cpp_parse(host_tools["model_image_host"], image, tmp_path)
    assert code == 0 and int(fields["model_offset"]) % 16 == 0
    assert int(fields["model_bytes_crc32"]) == zlib.crc32(model)
    offset, length = int(fields["model_offset"]), int(fields["model_len"])
    interpreter = runtime.Interpreter.from_bytes(image[offset : offset + length], arena_size=4096)
    interpreter.set_input(np.array([[1.5707964]], dtype=np.float32), 0)
    interpreter.invoke()
    assert interpreter.get_output(0).item() == pytest.approx(1.0, abs=0.1)  # sin(pi/2)


COMMANDS = ["yes", "no", "left", "right", "_unknown", "_background"]
STREAMING = dict(
    input_scale=26 / 255,
    input_zero_point=-128,
    output_scale=1 / 256,
    output_zero_point=0,
    frontend="micro",
    stride=3,
    hop_ms=30,
    refractory_ms=1000,
    threshold=[0.61, 0.72, 0.83, 0.94],
    average_window=[1, 4, 9, 16],
)


def test_a_streaming_commands_image_carries_frontend_stride_and_a_point_per_keyword(host_tools, tflite_bytes, tmp_path):
    image = build_model_image(tflite_bytes, COMMANDS, 40_000, 4, **STREAMING)
    parsed = parse_model_image(image)
    assert (parsed.frontend, parsed.stride, parsed.hop_ms) == ("micro", 3, 30)
    assert parsed.thresholds == pytest.approx((0.61, 0.72, 0.83, 0.94)) and parsed.average_windows == (1, 4, 9, 16)
    code, f = cpp_parse(host_tools["model_image_host"], image, tmp_path)
    assert code == 0 and f["status"] == "ok"
    assert (int(f["frontend"]), int(f["stride"]), int(f["hop_ms"])) == (1, 3, 30)
    assert [float(f[f"keyword{k}_threshold"]) for k in range(4)] == pytest.approx([0.61, 0.72, 0.83, 0.94], abs=1e-7)
    assert [int(f[f"keyword{k}_average_window"]) for k in range(4)] == [1, 4, 9, 16]
    assert f["selected"] == "partition" and int(f["selected_usable"]) == 1


def _resealed(image: bytes, offset: int, fmt: str, value) -> bytes:
    """The image with one field changed and a valid header CRC again: only the firmware's bounds stop it."""
    data = bytearray(image)
    struct.pack_into(fmt, data, offset, value)
    header_size = struct.unpack_from("<H", data, 6)[0]
    struct.pack_into("<I", data, 60, 0)
    struct.pack_into("<I", data, 60, zlib.crc32(bytes(data[:header_size])))
    return bytes(data)


def _table(image: bytes) -> int:
    labels_len = struct.unpack_from("<H", image, 26)[0]
    return -(-(FIXED_SIZE + labels_len) // 4) * 4


@pytest.mark.parametrize(
    "field",
    [
        "window_0",
        "window_17",
        "threshold_0",
        "threshold_nan",
        "threshold_above_1",
        "stride_0",
        "stride_9",
        "hop_not_stride",
        "hop_wraps",
        "frontend_2",
        "refractory_huge",
    ],
)
def test_out_of_range_fields_with_a_valid_crc_are_refused_by_the_firmware(host_tools, tflite_bytes, tmp_path, field):
    image = build_model_image(tflite_bytes, COMMANDS, 40_000, 4, **STREAMING)
    keyword_2 = _table(image) + 2 * 8
    change = {
        "window_0": (keyword_2 + 4, "<H", 0),
        "window_17": (keyword_2 + 4, "<H", 17),
        "threshold_0": (keyword_2, "<f", 0.0),
        "threshold_nan": (keyword_2, "<f", float("nan")),
        "threshold_above_1": (keyword_2, "<f", 1.5),
        "stride_0": (35, "<B", 0),
        "stride_9": (35, "<B", 9),
        "hop_not_stride": (40, "<I", 100),
        "hop_wraps": (40, "<I", 2**32 - 1),
        "frontend_2": (34, "<B", 2),
        "refractory_huge": (36, "<I", 2**31),
    }[field]
    data = _resealed(image, *change)
    code, fields = cpp_parse(host_tools["model_image_host"], data, tmp_path)
    assert code == 1 and fields["status"] == "bad_header"
    with pytest.raises(ModelImageError, match="out of range"):
        parse_model_image(data)


def test_a_version_1_image_is_still_read_as_one_point_for_every_keyword(host_tools, tflite_bytes, tmp_path):
    """An image flashed by an earlier kwtui: no per-keyword table, the spectrogram, the whole window per hop."""
    labels_bytes = b"".join(x.encode() + b"\0" for x in LABELS)
    header_size = -(-(FIXED_SIZE + len(labels_bytes)) // 16) * 16
    fixed = struct.pack(
        "<4sHHIIIHHHHfHHIIfifiI",
        MAGIC,
        1,
        header_size,
        len(tflite_bytes),
        zlib.crc32(tflite_bytes),
        23_456,
        4,
        2,
        1,
        len(labels_bytes),
        0.85,
        4,
        0,
        1500,
        100,
        0.5,
        -128,
        1 / 256,
        -128,
        0,
    )
    header = bytearray(header_size)
    header[:FIXED_SIZE], header[FIXED_SIZE : FIXED_SIZE + len(labels_bytes)] = fixed, labels_bytes
    struct.pack_into("<I", header, 60, zlib.crc32(bytes(header)))
    image = bytes(header) + tflite_bytes
    parsed = parse_model_image(image)
    assert parsed.version == 1 and (parsed.frontend, parsed.stride) == ("spectrogram", 1)
    assert parsed.thresholds == pytest.approx((0.85, 0.85)) and parsed.average_windows == (4, 4)
    code, f = cpp_parse(host_tools["model_image_host"], image, tmp_path)
    assert code == 0 and (int(f["frontend"]), int(f["stride"])) == (0, 1)
    assert [int(f[f"keyword{k}_average_window"]) for k in range(2)] == [4, 4]
