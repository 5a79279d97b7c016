"""Model partition image: header + labels + .tflite, read by firmware/src/model/model_image.cc.

Layout (little-endian; keep in step with firmware/src/model/model_image.h):

    offset size field
     0     4    magic b"KWTM"
     4     2    version (1)
     6     2    header_size: fixed 64 bytes + labels, padded to 16 (the model starts here, 16-byte aligned)
     8     4    model_len
    12     4    model_crc32 (zlib.crc32 of the model)
    16     4    arena_size
    20     2    num_classes          22  2  num_keywords (keywords are classes [0, num_keywords))
    24     2    flags (bit 0 sigmoid) 26  2  labels_len
    28     4    threshold (f32)      32  2  average_window   34  2  reserved
    36     4    refractory_ms        40  4  hop_ms
    44     4    input_scale (f32)    48  4  input_zero_point (i32)
    52     4    output_scale (f32)   56  4  output_zero_point (i32)
    60     4    header_crc32: zlib.crc32 of bytes [0, header_size) with this field as zero
    64     ...  labels, each NUL-terminated; zero padding to header_size; then the model
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

MAGIC = b"KWTM"
VERSION = 1
FIXED_SIZE = 64
ALIGN = 16
MAX_CLASSES = 32
MAX_LABEL = 31  # bytes of UTF-8, without the NUL
FLAG_SIGMOID = 1

_FIXED = struct.Struct("<4sHHIIIHHHHfHHIIfifiI")
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


def _header_size(labels_len: int) -> int:
    return -(-(FIXED_SIZE + labels_len) // ALIGN) * ALIGN


def build_model_image(
    tflite: bytes,
    labels: list[str],
    arena_size: int,
    num_keywords: int,
    *,
    sigmoid_output: bool = False,
    threshold: float = 0.9,
    average_window: int = 3,
    refractory_ms: int = 1000,
    hop_ms: int = 100,
    input_scale: float = 0.0,
    input_zero_point: int = 0,
    output_scale: float = 0.0,
    output_zero_point: int = 0,
) -> bytes:
    """The bytes to write at the model partition's offset. Raises ModelImageError on out-of-range values."""
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
    if not 1 <= average_window <= 16:
        raise ModelImageError(f"average_window {average_window}: the firmware takes 1 to 16")
    if not 0 < threshold <= 1:
        raise ModelImageError(f"threshold {threshold} must be in (0, 1]")
    if hop_ms <= 0 or refractory_ms < 0:
        raise ModelImageError("hop_ms must be > 0 and refractory_ms >= 0")
    label_bytes = b"".join(raw + b"\0" for raw in encoded)
    header_size = _header_size(len(label_bytes))
    if header_size > 0xFFFF:
        raise ModelImageError("labels too long")
    fixed = _FIXED.pack(
        MAGIC, VERSION, header_size, len(tflite), zlib.crc32(tflite), int(arena_size),
        len(labels), num_keywords, FLAG_SIGMOID if sigmoid_output else 0, len(label_bytes),
        float(threshold), int(average_window), 0, int(round(refractory_ms)), int(round(hop_ms)),
        float(input_scale), int(input_zero_point), float(output_scale), int(output_zero_point), 0,
    )
    header = bytearray(fixed + label_bytes + bytes(header_size - FIXED_SIZE - len(label_bytes)))
    struct.pack_into("<I", header, _HEADER_CRC_OFFSET, zlib.crc32(bytes(header)))
    return bytes(header) + bytes(tflite)


def parse_model_image(data: bytes) -> ModelImage:
    """Read and check an image (the same checks as the firmware). Raises ModelImageError."""
    if len(data) < FIXED_SIZE:
        raise ModelImageError(f"too small: {len(data)} bytes, the header alone is {FIXED_SIZE}")
    (magic, version, header_size, model_len, model_crc, arena_size, num_classes, num_keywords, flags,
     labels_len, threshold, average_window, _reserved, refractory_ms, hop_ms, input_scale, input_zp,
     output_scale, output_zp, header_crc) = _FIXED.unpack_from(data)
    if magic != MAGIC:
        raise ModelImageError(f"bad magic {magic!r} (expected {MAGIC!r}); not a model image")
    if version != VERSION:
        raise ModelImageError(f"version {version}, this kwtui reads version {VERSION}")
    if header_size < FIXED_SIZE + labels_len or header_size % ALIGN:
        raise ModelImageError(f"bad header size {header_size}")
    if len(data) < header_size:
        raise ModelImageError(f"too small: {len(data)} bytes, header says {header_size}")
    zeroed = bytearray(data[:header_size])
    struct.pack_into("<I", zeroed, _HEADER_CRC_OFFSET, 0)
    if zlib.crc32(bytes(zeroed)) != header_crc:
        raise ModelImageError("header CRC mismatch (corrupted header)")
    if not (1 <= num_classes <= MAX_CLASSES and 1 <= num_keywords <= num_classes and model_len and arena_size
            and average_window >= 1 and 0 < threshold <= 1 and hop_ms):
        raise ModelImageError("header values out of range")
    raw_labels = bytes(data[FIXED_SIZE : FIXED_SIZE + labels_len])
    if not raw_labels.endswith(b"\0"):
        raise ModelImageError("labels are not NUL-terminated")
    labels = [x.decode("utf-8") for x in raw_labels[:-1].split(b"\0")]
    if len(labels) != num_classes or any(not x or len(x.encode()) > MAX_LABEL for x in labels):
        raise ModelImageError(f"expected {num_classes} labels, found {labels!r}")
    model = bytes(data[header_size : header_size + model_len])
    if len(model) < model_len:
        raise ModelImageError(f"truncated: model needs {model_len} bytes, {len(model)} present")
    if zlib.crc32(model) != model_crc:
        raise ModelImageError("model CRC mismatch (corrupted model)")
    return ModelImage(
        model=model, labels=labels, arena_size=arena_size, num_keywords=num_keywords,
        sigmoid_output=bool(flags & FLAG_SIGMOID), threshold=threshold, average_window=average_window,
        refractory_ms=refractory_ms, hop_ms=hop_ms, input_scale=input_scale, input_zero_point=input_zp,
        output_scale=output_scale, output_zero_point=output_zp, header_size=header_size,
        model_crc32=model_crc, version=version,
    )
