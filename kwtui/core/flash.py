"""Flash stage: write the model partition image (and optionally a built firmware) to an ESP32 with esptool.

Steps: converted model (runs/<name>/model.tflite + model.json) -> model partition image (model_image.py) ->
the `model` partition's offset and size from the partition table -> serial port (auto-discovered by USB
vendor id) -> chip detection -> `esptool write-flash` through esptool's own entry point, with its progress
bar forwarded as Progress events. `dry_run` stops before touching any port and returns the exact command.

Verified on hardware: nothing (no board on the build machines). Tests cover the command construction, the
partition tables, the image, port discovery against fake port lists and every error path.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shlex
import struct
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from kwtui.core import events as ev
from kwtui.core.io import ownership, records, writer
from kwtui.core.errors import Cancelled, KwtuiError, UserError
from kwtui.core.layout import RunLayout
from kwtui.core.model_image import ModelImageError, build_model_image

STAGE = "flash"
def _shipped_partition_table() -> Path:
    """firmware/partitions.csv, shipped as package data so that flashing works after a non-editable install."""
    from importlib.resources import files

    return Path(str(files("kwtui") / "resources" / "partitions.csv"))


DEFAULT_PARTITION_TABLE = _shipped_partition_table()
MODEL_PARTITION_NAME = "model"
MODEL_PARTITION_SUBTYPE = 0x40
PARTITION_TABLE_OFFSET = 0x8000  # ESP-IDF / Arduino default (CONFIG_PARTITION_TABLE_OFFSET)
BOOTLOADER_OFFSET = {"esp32": 0x1000, "esp32s2": 0x1000, "esp32s3": 0x0, "esp32c3": 0x0}

# USB vendor ids of the USB-UART bridges found on ESP32 boards, best first.
USB_BRIDGES = {
    0x303A: "Espressif USB JTAG/serial",
    0x10C4: "Silicon Labs CP210x",
    0x1A86: "WCH CH340/CH9102",
    0x0403: "FTDI",
}


# --- partition tables ------------------------------------------------------------------------------


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
    "data": {"ota": 0x00, "phy": 0x01, "nvs": 0x02, "coredump": 0x03, "nvs_keys": 0x04, "efuse": 0x05,
             "undefined": 0x06, "esphttpd": 0x80, "fat": 0x81, "spiffs": 0x82, "littlefs": 0x83},
}


def _size(text: str, where: str) -> int:
    text = text.strip().upper()
    try:
        if text.endswith("K"):
            return int(text[:-1], 0) * 1024
        if text.endswith("M"):
            return int(text[:-1], 0) * 1024 * 1024
        return int(text, 0)
    except ValueError:
        raise UserError(f"{where}: {text!r} is not a number (use 0x2D0000, 1M or 64K)") from None


def read_partition_csv(path: Path) -> list[Partition]:
    """ESP-IDF partition CSV; empty offsets follow the usual rule (app 64 KiB aligned, data 4 KiB)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{path}: cannot read the partition table ({exc.strerror or exc}); set flash.partition_table") from None
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


# --- ports and chips -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PortInfo:
    device: str
    vid: int | None
    description: str = ""


def list_ports() -> list[PortInfo]:
    from serial.tools import list_ports as lp

    return [PortInfo(p.device, p.vid, p.description or "") for p in lp.comports()]


def rank_ports(ports: Iterable[PortInfo]) -> list[PortInfo]:
    """USB serial ports, known ESP32 bridges first; built-in UARTs (no USB vendor id) are left out."""
    order = list(USB_BRIDGES)
    usb = [p for p in ports if p.vid is not None]
    return sorted(usb, key=lambda p: (order.index(p.vid) if p.vid in USB_BRIDGES else len(order), p.device))


def discover_port(ports: Iterable[PortInfo] | None = None) -> PortInfo:
    """The most likely ESP32 port. Raises UserError when there is none."""
    ranked = rank_ports(list_ports() if ports is None else ports)
    if not ranked:
        raise UserError(
            "no serial port found: plug the ESP32 in with a data USB cable (check `dmesg` for ttyUSB/ttyACM), "
            "or pass --port /dev/ttyUSB0"
        )
    return ranked[0]


def check_port_access(port: str) -> None:
    """Clear errors before esptool tries: the port must exist and be readable and writable."""
    if "://" in port:  # rfc2217:// or socket:// URLs are checked when opened
        return
    if not os.path.exists(port):
        raise UserError(f"{port}: no such serial port; plug the board in or pick one with --port (see `ls /dev/tty*`)")
    if not os.access(port, os.R_OK | os.W_OK):
        raise UserError(
            f"{port}: permission denied; add yourself to the dialout group "
            "(`sudo usermod -aG dialout $USER`, then log out and back in)"
        )


def normalize_chip(name: str) -> str:
    """'ESP32-S3' -> 'esp32s3'."""
    return name.lower().replace("-", "").replace("_", "").split("(")[0].strip()


def check_chip(expected: str, detected: str, port: str) -> str:
    found = normalize_chip(detected)
    if expected != "auto" and found != expected:
        raise UserError(
            f"flash.chip: the preset says {expected} but the board on {port} is {detected}; "
            f"set flash.chip = \"{found}\" (or \"auto\")"
        )
    return found


def detect_chip(port: str) -> str:
    """Connect at the ROM's 115200 baud, read the chip type, disconnect (the board is reset and left running)."""
    from esptool.cmds import detect_chip as esptool_detect

    with _quiet_esptool():
        try:
            esp = esptool_detect(port)
        except Exception as exc:  # noqa: BLE001 - esptool raises FatalError/SerialException/OSError
            raise esptool_error(exc, port) from None
        try:
            return esp.CHIP_NAME
        finally:
            try:
                esp.hard_reset()
            finally:
                esp._port.close()  # noqa: SLF001 - esptool has no public close


def esptool_error(exc: BaseException, port: str | None) -> KwtuiError:
    """Map esptool's and pyserial's messages onto one-line kwtui errors."""
    text = " ".join(str(exc).split()).split(" For troubleshooting")[0]
    where = port or "serial port"
    if "Permission denied" in text or "Errno 13" in text:
        return UserError(
            f"{where}: permission denied; add yourself to the dialout group "
            "(`sudo usermod -aG dialout $USER`, then log out and back in)"
        )
    if "Wrong chip argument" in text or "not " in text and "This chip is" in text:
        return UserError(f"flash.chip: {text}; set flash.chip to the board's chip or \"auto\"")
    if "No such file" in text or "Errno 2" in text or "could not open port" in text.lower():
        return UserError(f"{where}: no such serial port; plug the board in or pick one with --port")
    if "Failed to connect" in text or "No serial data received" in text:
        return KwtuiError(
            f"{where}: the ESP32 did not answer ({text[:120]}); hold BOOT while flashing starts, "
            "or check the cable and the port"
        )
    return KwtuiError(f"esptool: {text[:200]}")


# --- what to write ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FlashPlan:
    chip: str
    port: str | None  # None: esptool searches (dry run without a board)
    baud: int
    writes: list[tuple[int, Path]]
    model_partition: Partition
    image_bytes: int

    def esptool_args(self) -> list[str]:
        args = ["--chip", self.chip]
        if self.port:
            args += ["--port", self.port]
        args += ["--baud", str(self.baud), "--before", "default-reset", "--after", "hard-reset", "write-flash"]
        if any(path.name != "model_partition.bin" for _, path in self.writes):
            args += ["--flash-mode", "keep", "--flash-freq", "keep", "--flash-size", "keep"]
        for offset, path in self.writes:
            args += [f"0x{offset:x}", str(path)]
        return args

    def command(self) -> str:
        return shlex.join([sys.executable, "-m", "esptool", *self.esptool_args()])


def load_converted_model(layout: RunLayout) -> tuple[bytes, dict[str, Any]]:
    meta_path = layout.run_dir / "model.json"
    if not layout.tflite.is_file() or not meta_path.is_file():
        missing = layout.tflite if not layout.tflite.is_file() else meta_path
        raise UserError(f"{missing}: no converted model; run `kwtui convert {layout.preset.name}` first")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        return layout.tflite.read_bytes(), meta
    except (OSError, ValueError) as exc:
        raise UserError(f"{meta_path}: unreadable ({exc}); run `kwtui convert {layout.preset.name}` again") from None


def model_image_from_run(layout: RunLayout) -> bytes:
    tflite, meta = load_converted_model(layout)
    post = layout.preset.evaluate
    try:
        return build_model_image(
            tflite,
            list(meta["labels"]),
            int(meta["arena_bytes"]),
            int(meta["num_keywords"]),
            sigmoid_output=bool(meta.get("sigmoid_output", False)),
            # The operating point is the preset's current choice (e.g. picked from the threshold sweep after
            # converting): the weights don't depend on it, so no re-conversion is needed to change it.
            threshold=post.threshold,
            average_window=post.average_window,
            refractory_ms=int(post.refractory_ms),
            hop_ms=int(post.hop_ms),
            input_scale=float(meta.get("input_scale", 0.0)),
            input_zero_point=int(meta.get("input_zero_point", 0)),
            output_scale=float(meta.get("output_scale", 0.0)),
            output_zero_point=int(meta.get("output_zero_point", 0)),
        )
    except KeyError as exc:
        raise UserError(f"{layout.run_dir / 'model.json'}: missing {exc}; run `kwtui convert {layout.preset.name}` again") from None
    except ModelImageError as exc:
        raise UserError(f"{layout.run_dir / 'model.json'}: {exc}") from None


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer.write_bytes(path, data, fsync=True)


def firmware_files(folder: Path) -> dict[str, Path]:
    """bootloader.bin, partitions.bin, firmware.bin of a PlatformIO build folder (.pio/build/<env>)."""
    if not folder.is_dir():
        raise UserError(f"flash.firmware_bin: {folder} is not a folder; point it at firmware/.pio/build/esp32dev")
    files = {name: folder / f"{name}.bin" for name in ("bootloader", "partitions", "firmware")}
    missing = [str(p.name) for p in files.values() if not p.is_file()]
    if missing:
        raise UserError(
            f"flash.firmware_bin: {folder} lacks {', '.join(missing)}; build once with `pio run` in firmware/"
        )
    return files


def partition_source(preset: Any) -> Path:
    if preset.flash.firmware_bin:
        return Path(preset.flash.firmware_bin) / "partitions.bin"
    return Path(preset.flash.partition_table) if preset.flash.partition_table else DEFAULT_PARTITION_TABLE


def read_partitions(path: Path) -> list[Partition]:
    return read_partition_bin(path) if path.suffix == ".bin" else read_partition_csv(path)


def plan_flash(preset: Any, image_path: Path, image_bytes: int, chip: str, port: str | None) -> FlashPlan:
    table = partition_source(preset)
    partitions = read_partitions(table)
    model_part = find_model_partition(partitions, table)
    if image_bytes > model_part.size:
        raise UserError(
            f"{image_path}: the model image is {image_bytes} bytes but the `{model_part.name}` partition in "
            f"{table} holds {model_part.size}; enlarge it (and flash the full firmware once) or use a smaller model"
        )
    writes: list[tuple[int, Path]] = []
    if preset.flash.firmware_bin:
        files = firmware_files(Path(preset.flash.firmware_bin))
        if chip not in BOOTLOADER_OFFSET:
            raise UserError(
                f"flash.chip: {chip!r}; with flash.firmware_bin set the chip must be known "
                f"({', '.join(BOOTLOADER_OFFSET)}) to place the bootloader"
            )
        app = next((p for p in partitions if p.type == "app"), None)
        if app is None:
            raise UserError(f"{table}: no app partition to write firmware.bin to")
        if files["firmware"].stat().st_size > app.size:
            raise UserError(f"{files['firmware']}: larger than the `{app.name}` partition ({app.size} bytes)")
        writes += [
            (BOOTLOADER_OFFSET[chip], files["bootloader"]),
            (PARTITION_TABLE_OFFSET, files["partitions"]),
            (app.offset, files["firmware"]),
        ]
    writes.append((model_part.offset, image_path))
    return FlashPlan(chip, port, int(preset.flash.baud), writes, model_part, image_bytes)


# --- esptool progress ------------------------------------------------------------------------------


def _template_logger_base() -> type:
    from esptool.logger import TemplateLogger

    return TemplateLogger


def make_progress_logger(report: ev.Reporter, cancel: ev.CancelToken, total_bytes: int, files: int = 1) -> Any:
    """An esptool logger turning its per-file progress into byte Progress events over all files.

    esptool 5 draws one progress task per file written (log.progress -> progress_bar(bytes done, file bytes));
    a restart from zero means the next file. Other output is kept in `lines` for error messages.
    """

    class ProgressLogger(_template_logger_base()):
        def __init__(self) -> None:
            self.lines: list[str] = []
            self.started = time.monotonic()
            self.file_index = 0
            self.finished_bytes = 0  # bytes of the files already written
            self._file_total = 0
            self._last_iter: int | None = None

        def print(self, *args: Any, **kwargs: Any) -> None:
            text = " ".join(str(a) for a in args).strip()
            if text:
                self.lines.append(text)

        def note(self, message: str) -> None:
            self.lines.append(f"note: {message}")

        def warning(self, message: str) -> None:
            report(ev.Warning(STAGE, f"esptool: {message}"))

        def error(self, message: str) -> None:
            self.lines.append(f"error: {message}")

        def stage(self, finish: bool = False) -> None:
            pass

        def set_verbosity(self, verbosity: str) -> None:
            pass

        def progress_bar(self, cur_iter: int, total_iters: int, prefix: str = "", suffix: str = "",
                         bar_length: int = 30) -> None:
            if cancel.cancelled:
                # The partition is left with a bad CRC: the firmware then boots its compiled-in model.
                raise Cancelled("flash cancelled; the device falls back to its compiled-in model until re-flashed")
            previous_done = self._last_iter is not None and self._last_iter >= self._file_total
            restarted = self._last_iter is not None and cur_iter < self._last_iter
            if restarted or (previous_done and (cur_iter, total_iters) != (self._last_iter, self._file_total)):
                self.finished_bytes += self._file_total
                self.file_index += 1
            self._last_iter, self._file_total = cur_iter, total_iters
            total = max(total_bytes, self.finished_bytes + total_iters)
            done = min(self.finished_bytes + cur_iter, total)
            elapsed = max(time.monotonic() - self.started, 1e-6)
            rate = done / elapsed
            eta = (total - done) / rate if rate > 0 else None
            report(ev.Progress(STAGE, done, total, rate=rate, eta_s=eta, unit="bytes",
                               message=f"writing file {min(self.file_index + 1, files)}/{files}"))

    return ProgressLogger()


class _quiet_esptool:
    """Install a logger on esptool for the duration of a call; restore the previous one after."""

    def __init__(self, logger: Any | None = None) -> None:
        self.logger = logger

    def __enter__(self) -> Any:
        from esp_pylib.logger import EspLog
        from esptool.logger import log

        self._previous = EspLog.instance
        logger = self.logger or make_progress_logger(ev.ignore, ev.CancelToken(), 0)
        log.set_logger(logger)
        return logger

    def __exit__(self, *exc: Any) -> None:
        from esp_pylib.logger import EspLog

        EspLog.instance = self._previous


def run_esptool(args: list[str], logger: Any, port: str | None) -> None:
    import esptool

    with _quiet_esptool(logger):
        try:
            esptool.main(args)
        except Cancelled:
            raise
        except SystemExit as exc:
            raise KwtuiError(f"esptool exited with code {exc.code}: {' '.join(logger.lines[-2:])[:200]}") from None
        except Exception as exc:  # noqa: BLE001 - FatalError, SerialException, OSError
            raise esptool_error(exc, port) from None


# --- the stage -------------------------------------------------------------------------------------


def run_flash(preset: Any, report: ev.Reporter, cancel: ev.CancelToken, dry_run: bool = False,
              port: str | None = None) -> dict[str, Any]:
    started = time.monotonic()
    layout = RunLayout(preset)
    report(ev.Started(STAGE, message="dry run: nothing is written to the board" if dry_run else ""))
    records.require_deployable(layout)
    ownership.claim(layout.run_dir, "run_dir")

    image = model_image_from_run(layout)
    image_path = layout.model_partition_image
    chip = preset.flash.chip
    # Check the table and sizes before looking for a board, so layout mistakes show up first.
    plan_flash(preset, image_path, len(image), chip if chip != "auto" else "esp32", None)
    write_atomic(image_path, image)
    cancel.raise_if_cancelled()

    wanted = port or preset.flash.port
    if wanted == "auto":
        try:
            found = discover_port()
            wanted = found.device
            bridge = USB_BRIDGES.get(found.vid, found.description)
            report(ev.Progress(STAGE, 0, None, unit="bytes", message=f"found {found.device} ({bridge})"))
        except UserError:
            if not dry_run:
                raise
            wanted = None
            report(ev.Warning(STAGE, "no serial port found; the command lets esptool search for one"))

    if dry_run:
        if chip == "auto" and preset.flash.firmware_bin:
            raise UserError("flash.chip: \"auto\" needs a board to detect; set the chip for a dry run with firmware_bin")
        plan = plan_flash(preset, image_path, len(image), chip, wanted)
    else:
        check_port_access(wanted)
        report(ev.Progress(STAGE, 0, None, unit="bytes", message=f"connecting to {wanted}"))
        detected = detect_chip(wanted)
        chip = check_chip(chip, detected, wanted)
        report(ev.Progress(STAGE, 0, None, unit="bytes", message=f"{detected} on {wanted}"))
        plan = plan_flash(preset, image_path, len(image), chip, wanted)
        cancel.raise_if_cancelled()
        total = sum(path.stat().st_size for _, path in plan.writes)
        logger = make_progress_logger(report, cancel, total, len(plan.writes))
        run_esptool(plan.esptool_args(), logger, wanted)

    summary = {
        "dry_run": dry_run,
        "port": plan.port or "",
        "chip": plan.chip,
        "model_offset": f"0x{plan.model_partition.offset:x}",
        "model_image_bytes": plan.image_bytes,
        "partition_bytes": plan.model_partition.size,
        "files": len(plan.writes),
        "command": plan.command(),
        "seconds": round(time.monotonic() - started, 2),
    }
    report(ev.Finished(STAGE, summary))
    return summary
