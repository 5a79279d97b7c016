"""ESP32 partition tables (CSV as in firmware/partitions.csv, or the binary table) and the `model` partition."""

from __future__ import annotations

import csv
import io
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from kwtui.core.errors import UserError
from kwtui.core.io.text import read_user_text


def _shipped_partition_table() -> Path:
    """firmware/partitions.csv, shipped as package data so that flashing works after a non-editable install."""
    from importlib.resources import files

    return Path(str(files("kwtui") / "resources" / "partitions.csv"))


DEFAULT_PARTITION_TABLE = _shipped_partition_table()
MODEL_PARTITION_NAME = "model"
MODEL_PARTITION_SUBTYPE = 0x40
PARTITION_TABLE_OFFSET = 0x8000  # ESP-IDF / Arduino default (CONFIG_PARTITION_TABLE_OFFSET)
BOOTLOADER_OFFSET = {"esp32": 0x1000, "esp32s2": 0x1000, "esp32s3": 0x0, "esp32c3": 0x0}


@dataclass(frozen=True)
class Partition:
    name: str
    type: str  # "app" or "data"
    subtype: int
    offset: int
    size: int


_TYPES = {"app": 0x00, "data": 0x01}
_SUBTYPES = {
    "app": {"factory": 0x00, **{f"ota_{i}": 0x10 + i for i in range(16)}, "test": 0x20},
    "data": {
        "ota": 0x00,
        "phy": 0x01,
        "nvs": 0x02,
        "coredump": 0x03,
        "nvs_keys": 0x04,
        "efuse": 0x05,
        "undefined": 0x06,
        "esphttpd": 0x80,
        "fat": 0x81,
        "spiffs": 0x82,
        "littlefs": 0x83,
    },
}


def _size(text: str, where: str) -> int:
    text = text.strip().upper()
    try:
        if text.endswith("K"):
            return int(text[:-1], 0) * 1024
        if text.endswith("M"):
            return int(text[:-1], 0) * 1024 * 1024
        value = int(text, 0)
    except ValueError:
        raise UserError(f"{where}: {text!r} is not a number (use 0x2D0000, 1M or 64K)") from None
    if value < 0 or text.startswith("-") or "-" in text:
        raise UserError(f"{where}: {text!r} is negative; offsets and sizes are positive (e.g. 0x2D0000)")
    return value


def read_partition_csv(path: Path) -> list[Partition]:
    """ESP-IDF partition CSV; empty offsets follow the usual rule (app 64 KiB aligned, data 4 KiB)."""
    text = read_user_text(path, "partition table", "set flash.partition_table")
    rows = [r for r in csv.reader(io.StringIO(text)) if r and not r[0].strip().startswith("#")]
    partitions: list[Partition] = []
    next_offset = PARTITION_TABLE_OFFSET + 0x1000
    for number, row in enumerate(rows, 1):
        cells = [c.strip() for c in row] + [""] * 5
        name, ptype, subtype, offset, size = cells[:5]
        where = f"{path}: partition {name or number}"
        if ptype not in _TYPES:
            try:
                int(ptype, 0)
            except ValueError:
                raise UserError(f"{where}: unknown type {ptype!r} (app or data)") from None
        subtype_value = _SUBTYPES.get(ptype, {}).get(subtype)
        if subtype_value is None:
            subtype_value = _size(subtype, f"{where} subtype")
        align = 0x10000 if ptype == "app" else 0x1000
        start = _size(offset, f"{where} offset") if offset else -(-next_offset // align) * align
        length = _size(size, f"{where} size")
        partitions.append(Partition(name, ptype, subtype_value, start, length))
        next_offset = start + length
    return partitions


def read_partition_bin(path: Path) -> list[Partition]:
    """The binary table a firmware build writes (partitions.bin): 32-byte entries starting with 0xAA50."""
    data = path.read_bytes()
    partitions = []
    for pos in range(0, len(data) - 31, 32):
        magic, ptype, subtype, offset, size, label, _flags = struct.unpack_from("<HBBII16sI", data, pos)
        if magic != 0x50AA:  # 0xEBEB is the MD5 entry, 0xFFFF the end
            break
        type_name = {0: "app", 1: "data"}.get(ptype, str(ptype))
        partitions.append(Partition(label.split(b"\0")[0].decode(errors="replace"), type_name, subtype, offset, size))
    if not partitions:
        raise UserError(f"{path}: not an ESP32 partition table (no 0xAA50 entries)")
    return partitions


def find_model_partition(partitions: Iterable[Partition], source: Path) -> Partition:
    for part in partitions:
        if part.type == "data" and part.name == MODEL_PARTITION_NAME:
            return part
    for part in partitions:
        if part.type == "data" and part.subtype == MODEL_PARTITION_SUBTYPE:
            return part
    raise UserError(
        f"{source}: no model partition (a `data, 0x40` entry named `{MODEL_PARTITION_NAME}`); "
        "use the firmware's firmware/partitions.csv and flash the full firmware once"
    )
