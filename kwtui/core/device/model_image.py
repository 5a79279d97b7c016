"""Model partition image: header + labels + .tflite, read by firmware/src/model/model_image.cc.

Layout (little-endian; keep in step with firmware/src/model/model_image.h):

    offset size field
     0     4    magic b"KWTM"
     4     2    version (2; version 1 images, without the fields marked v2, are still read)
     6     2    header_size: fixed 64 bytes + labels, padded to 16 (the model starts here, 16-byte aligned)
     8     4    model_len
    12     4    model_crc32 (zlib.crc32 of the model)
    16     4    arena_size
    20     2    num_classes          22  2  num_keywords (keywords are classes [0, num_keywords))
    24     2    flags (bit 0 sigmoid) 26  2  labels_len
    28     4    threshold (f32)      32  2  average_window   (keyword 0's; v2: the table below has each keyword's)
    34     1    v2: frontend (0 spectrogram, 1 micro)     35  1  v2: stride (feature slices per inference, 1..8)
    36     4    refractory_ms        40  4  hop_ms
    44     4    input_scale (f32)    48  4  input_zero_point (i32)
    52     4    output_scale (f32)   56  4  output_zero_point (i32)
    60     4    header_crc32: zlib.crc32 of bytes [0, header_size) with this field as zero
    64     ...  labels, each NUL-terminated (labels_len bytes)
    v2: at 64 + labels_len rounded up to 4, one entry per keyword: threshold (f32), average_window (u16),
        reserved (u16, 0)
    zero padding to header_size; then the model

Bounds the firmware checks, and this builder refuses beyond: thresholds in (0, 1], windows 1..16, stride 1..8 (1
for the spectrogram), hop_ms = stride x 10 for the micro frontend and 10..1000 otherwise, refractory <= 10 min.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import NamedTuple

from kwtui.core.postprocess import per_keyword

MAGIC = b"KWTM"
VERSION = 2
READS_VERSIONS = (1, 2)
FIXED_SIZE = 64
ALIGN = 16
MAX_CLASSES = 32
MAX_LABEL = 31  # bytes of UTF-8, without the NUL
FLAG_SIGMOID = 1
FRONTENDS = ("spectrogram", "micro")  # the frontend byte's values
MAX_AVERAGE_WINDOW = 16
MAX_STRIDE = 8
MAX_REFRACTORY_MS = 600_000
HOP_MS_RANGE = (10, 1000)
_KEYWORD = struct.Struct("<fHH")

_FIXED = struct.Struct("<4sHHIIIHHHHfHBBIIfifiI")
assert _FIXED.size == FIXED_SIZE
_HEADER_CRC_OFFSET = 60


class ModelImageError(ValueError):
    """The bytes are not a valid model image; str() says why."""


@dataclass(frozen=True)
class ModelImage:
    model: bytes
    labels: list[str]
    arena_size: int
    num_keywords: int
    sigmoid_output: bool = False
    threshold: float = 0.9
    average_window: int = 3
    refractory_ms: int = 1000
    hop_ms: int = 100
    input_scale: float = 0.0
    input_zero_point: int = 0
    output_scale: float = 0.0
    output_zero_point: int = 0
    header_size: int = 0
    model_crc32: int = 0
    version: int = VERSION
    frontend: str = "spectrogram"
    stride: int = 1
    thresholds: tuple[float, ...] = ()  # per keyword
    average_windows: tuple[int, ...] = ()  # per keyword


def _table_offset(labels_len: int) -> int:
    return -(-(FIXED_SIZE + labels_len) // 4) * 4


def _header_size(labels_len: int, num_keywords: int) -> int:
    end = _table_offset(labels_len) + num_keywords * _KEYWORD.size
    return -(-end // ALIGN) * ALIGN


def _check_post(
    thresholds: list[float], windows: list[int], frontend: str, stride: int, hop_ms: int, refractory_ms: int
) -> None:
    for window in windows:
        if not 1 <= window <= MAX_AVERAGE_WINDOW:
            raise ModelImageError(f"average_window {window}: the firmware takes 1 to {MAX_AVERAGE_WINDOW}")
    for value in thresholds:
        if not 0 < value <= 1:  # NaN fails too
            raise ModelImageError(f"threshold {value} must be in (0, 1]")
    if frontend not in FRONTENDS:
        raise ModelImageError(f"frontend {frontend!r}: the firmware computes {' or '.join(FRONTENDS)}")
    if not 1 <= stride <= MAX_STRIDE or (frontend == "spectrogram" and stride != 1):
        raise ModelImageError(
            f"stride {stride}: 1 for the spectrogram, 1 to {MAX_STRIDE} slices for the micro frontend"
        )
    if frontend == "micro" and hop_ms != stride * 10:
        raise ModelImageError(f"hop_ms {hop_ms}: a streaming model runs every stride ({stride} x 10 ms)")
    if not HOP_MS_RANGE[0] <= hop_ms <= HOP_MS_RANGE[1]:
        raise ModelImageError(f"hop_ms {hop_ms}: the firmware takes {HOP_MS_RANGE[0]} to {HOP_MS_RANGE[1]}")
    if not 0 <= refractory_ms <= MAX_REFRACTORY_MS:
        raise ModelImageError(f"refractory_ms {refractory_ms}: the firmware takes 0 to {MAX_REFRACTORY_MS}")


def build_model_image(
    tflite: bytes,
    labels: list[str],
    arena_size: int,
    num_keywords: int,
    *,
    sigmoid_output: bool = False,
    threshold: float | list[float] = 0.9,
    average_window: int | list[int] = 3,
    refractory_ms: int = 1000,
    hop_ms: int = 100,
    input_scale: float = 0.0,
    input_zero_point: int = 0,
    output_scale: float = 0.0,
    output_zero_point: int = 0,
    frontend: str = "spectrogram",
    stride: int = 1,
) -> bytes:
    """The bytes to write at the model partition's offset; `threshold` and `average_window` are one value for
    every keyword or one per keyword. Raises ModelImageError on out-of-range values."""
    if not tflite:
        raise ModelImageError("the model is empty")
    if not 1 <= len(labels) <= MAX_CLASSES:
        raise ModelImageError(f"{len(labels)} classes; the firmware takes 1 to {MAX_CLASSES}")
    if not 1 <= num_keywords <= len(labels):
        raise ModelImageError(f"num_keywords {num_keywords} must be between 1 and {len(labels)} classes")
    encoded = [label.encode("utf-8") for label in labels]
    for label, raw in zip(labels, encoded):
        if not raw or len(raw) > MAX_LABEL or b"\0" in raw or any(c in label for c in "\r\n"):
            raise ModelImageError(f"label {label!r}: 1 to {MAX_LABEL} bytes of UTF-8 on one line")
    if arena_size <= 0 or arena_size > 0xFFFFFFFF:
        raise ModelImageError(f"arena_size {arena_size} out of range")
    try:
        thresholds = per_keyword(threshold, num_keywords)
        windows = [int(w) for w in per_keyword(average_window, num_keywords)]
    except ValueError as exc:
        raise ModelImageError(f"thresholds / average windows: {exc}") from None
    hop, refractory = int(round(hop_ms)), int(round(refractory_ms))
    _check_post(thresholds, windows, frontend, int(stride), hop, refractory)
    label_bytes = b"".join(raw + b"\0" for raw in encoded)
    header_size = _header_size(len(label_bytes), num_keywords)
    if header_size > 0xFFFF:
        raise ModelImageError("labels too long")
    fixed = _FIXED.pack(
        MAGIC,
        VERSION,
        header_size,
        len(tflite),
        zlib.crc32(tflite),
        int(arena_size),
        len(labels),
        num_keywords,
        FLAG_SIGMOID if sigmoid_output else 0,
        len(label_bytes),
        thresholds[0],
        windows[0],
        FRONTENDS.index(frontend),
        int(stride),
        refractory,
        hop,
        float(input_scale),
        int(input_zero_point),
        float(output_scale),
        int(output_zero_point),
        0,
    )
    header = bytearray(header_size)
    header[:FIXED_SIZE] = fixed
    header[FIXED_SIZE : FIXED_SIZE + len(label_bytes)] = label_bytes
    for k, (value, window) in enumerate(zip(thresholds, windows, strict=True)):
        _KEYWORD.pack_into(header, _table_offset(len(label_bytes)) + k * _KEYWORD.size, value, window, 0)
    struct.pack_into("<I", header, _HEADER_CRC_OFFSET, zlib.crc32(bytes(header)))
    return bytes(header) + bytes(tflite)


class _Fixed(NamedTuple):
    """The fixed 64 header bytes, field by field (the layout above)."""

    magic: bytes
    version: int
    header_size: int
    model_len: int
    model_crc: int
    arena_size: int
    num_classes: int
    num_keywords: int
    flags: int
    labels_len: int
    threshold: float
    average_window: int
    frontend_code: int
    stride: int
    refractory_ms: int
    hop_ms: int
    input_scale: float
    input_zp: int
    output_scale: float
    output_zp: int
    header_crc: int


def parse_model_image(data: bytes) -> ModelImage:
    """Read and check an image (the same checks as the firmware). Raises ModelImageError."""
    fixed = _read_fixed(data)
    _check_header(data, fixed)
    thresholds, windows, frontend, stride = _post_settings(data, fixed)
    try:
        _check_post(thresholds, windows, frontend, stride, fixed.hop_ms, fixed.refractory_ms)
    except ModelImageError as exc:
        raise ModelImageError(f"header values out of range: {exc}") from None
    labels = _read_labels(data, fixed.labels_len, fixed.num_classes)
    model = _read_model(data, fixed.header_size, fixed.model_len, fixed.model_crc)
    return ModelImage(
        model=model,
        labels=labels,
        arena_size=fixed.arena_size,
        num_keywords=fixed.num_keywords,
        sigmoid_output=bool(fixed.flags & FLAG_SIGMOID),
        threshold=fixed.threshold,
        average_window=fixed.average_window,
        refractory_ms=fixed.refractory_ms,
        hop_ms=fixed.hop_ms,
        input_scale=fixed.input_scale,
        input_zero_point=fixed.input_zp,
        output_scale=fixed.output_scale,
        output_zero_point=fixed.output_zp,
        header_size=fixed.header_size,
        model_crc32=fixed.model_crc,
        version=fixed.version,
        frontend=frontend,
        stride=stride,
        thresholds=tuple(thresholds),
        average_windows=tuple(windows),
    )


def _read_fixed(data: bytes) -> _Fixed:
    if len(data) < FIXED_SIZE:
        raise ModelImageError(f"too small: {len(data)} bytes, the header alone is {FIXED_SIZE}")
    return _Fixed._make(_FIXED.unpack_from(data))


def _check_header(data: bytes, fixed: _Fixed) -> None:
    """Magic, version, header size, CRC, then the counts: checked in this order, the first failure is the one
    reported."""
    if fixed.magic != MAGIC:
        raise ModelImageError(f"bad magic {fixed.magic!r} (expected {MAGIC!r}); not a model image")
    if fixed.version not in READS_VERSIONS:
        raise ModelImageError(
            f"version {fixed.version}, this kwtui reads versions {', '.join(map(str, READS_VERSIONS))}"
        )
    labels_len, header_size = fixed.labels_len, fixed.header_size
    needed = _header_size(labels_len, fixed.num_keywords) if fixed.version >= 2 else FIXED_SIZE + labels_len
    if header_size < needed or header_size % ALIGN:
        raise ModelImageError(f"bad header size {header_size}")
    if len(data) < header_size:
        raise ModelImageError(f"too small: {len(data)} bytes, header says {header_size}")
    _check_header_crc(data, header_size, fixed.header_crc)
    counts_ok = 1 <= fixed.num_classes <= MAX_CLASSES and 1 <= fixed.num_keywords <= fixed.num_classes
    if not (counts_ok and fixed.model_len and fixed.arena_size):
        raise ModelImageError("header values out of range")


def _check_header_crc(data: bytes, header_size: int, header_crc: int) -> None:
    """The CRC covers the header with its own field as zero."""
    zeroed = bytearray(data[:header_size])
    struct.pack_into("<I", zeroed, _HEADER_CRC_OFFSET, 0)
    if zlib.crc32(bytes(zeroed)) != header_crc:
        raise ModelImageError("header CRC mismatch (corrupted header)")


def _post_settings(data: bytes, fixed: _Fixed) -> tuple[list[float], list[int], str, int]:
    """(thresholds, average windows, frontend, stride): v2 reads each keyword's from the table; v1 has one
    threshold and window, the spectrogram, the whole window at every hop."""
    num_keywords = fixed.num_keywords
    if fixed.version < 2:
        return [fixed.threshold] * num_keywords, [fixed.average_window] * num_keywords, "spectrogram", 1
    start = _table_offset(fixed.labels_len)
    table = [_KEYWORD.unpack_from(data, start + k * _KEYWORD.size) for k in range(num_keywords)]
    code = fixed.frontend_code
    frontend = FRONTENDS[code] if code < len(FRONTENDS) else f"unknown ({code})"
    return [t for t, _, _ in table], [w for _, w, _ in table], frontend, fixed.stride


def _read_labels(data: bytes, labels_len: int, num_classes: int) -> list[str]:
    raw_labels = bytes(data[FIXED_SIZE : FIXED_SIZE + labels_len])
    if not raw_labels.endswith(b"\0"):
        raise ModelImageError("labels are not NUL-terminated")
    labels = [x.decode("utf-8") for x in raw_labels[:-1].split(b"\0")]
    if len(labels) != num_classes or any(not x or len(x.encode()) > MAX_LABEL for x in labels):
        raise ModelImageError(f"expected {num_classes} labels, found {labels!r}")
    return labels


def _read_model(data: bytes, header_size: int, model_len: int, model_crc: int) -> bytes:
    model = bytes(data[header_size : header_size + model_len])
    if len(model) < model_len:
        raise ModelImageError(f"truncated: model needs {model_len} bytes, {len(model)} present")
    if zlib.crc32(model) != model_crc:
        raise ModelImageError("model CRC mismatch (corrupted model)")
    return model
