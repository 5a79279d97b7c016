"""Flash stage: write the model partition image (and optionally a built firmware) to an ESP32 with esptool.

Steps: converted model (runs/<name>/model.tflite + model.json) -> model partition image (model_image.py) ->
the `model` partition's offset and size from the partition table -> serial port (auto-discovered by USB
vendor id) -> chip detection -> `esptool write-flash` through esptool's own entry point, with its progress
bar forwarded as Progress events. `dry_run` stops before touching any port and returns the exact command.

Verified on hardware: nothing (no board on the build machines). Tests cover the command construction, the
partition tables, the image, port discovery against fake port lists and every error path.
"""

from __future__ import annotations

import errno
import json
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kwtui.core import events as ev
from kwtui.core.device.esptool_api import flash_board, make_progress_logger
from kwtui.core.device.model_image import ModelImageError, build_model_image
from kwtui.core.device.partitions import (
    BOOTLOADER_OFFSET,
    DEFAULT_PARTITION_TABLE,
    PARTITION_TABLE_OFFSET,
    Partition,
    find_model_partition,
    read_partition_bin,
    read_partition_csv,
)
from kwtui.core.device.ports import USB_BRIDGES, check_port_access, discover_port
from kwtui.core.errors import UserError
from kwtui.core.io import ownership, records, run_folder, writer
from kwtui.core.io.layout import RunLayout
from kwtui.core.preset import Preset

STAGE = "flash"
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
            args += [f"0x{offset:x}", str(path.absolute())]  # the command shown runs from any folder
        return args

    def command(self) -> str:
        return shlex.join([sys.executable, "-m", "esptool", *self.esptool_args()])


def load_converted_model(layout: RunLayout) -> tuple[bytes, dict[str, Any]]:
    meta_path = layout.model_json
    if not layout.tflite.is_file() or not meta_path.is_file():
        missing = layout.tflite if not layout.tflite.is_file() else meta_path
        raise UserError(f"{missing}: no converted model; run `kwtui convert {layout.preset.name}` first")
    again = f"run `kwtui convert {layout.preset.name}` again"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        tflite = layout.tflite.read_bytes()
    except (OSError, ValueError) as exc:
        raise UserError(f"{meta_path}: unreadable ({exc}); {again}") from None
    if not isinstance(meta, dict):
        raise UserError(f"{meta_path}: not a kwtui model.json; {again}")
    problem = records.model_file_problem(layout.tflite, meta) or _meta_problem(meta) or _outputs_problem(tflite, meta)
    if problem:
        raise UserError(f"{problem if problem.startswith(str(layout.tflite)) else f'{meta_path}: {problem}'}; {again}")
    return tflite, meta


def _outputs_problem(tflite: bytes, meta: dict[str, Any]) -> str | None:
    """model.json's labels against the model's own output size (one sigmoid, or one output per label)."""
    from kwtui.core.stages.esphome import describe_model

    try:
        outputs = int(describe_model(tflite)["outputs"][0]["shape"][-1])
    except Exception:  # noqa: BLE001 - a damaged flatbuffer raises whatever its reader meets
        return "the .tflite beside it is not a readable TFLite model"
    expected = 1 if meta.get("sigmoid_output") else len(meta["labels"])
    if outputs != expected:
        return f"field 'labels' names {len(meta['labels'])} classes but the model has {outputs} outputs"
    return None


def _meta_problem(meta: dict[str, Any]) -> str | None:
    """The first field of a (hand-edited) model.json the partition image cannot be built from, or None."""

    def integer(key: str, low: int, high: int) -> bool:
        value = meta.get(key)
        return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high

    labels = meta.get("labels")
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) and x for x in labels):
        return "field 'labels' must be a list of class names"
    if not integer("num_keywords", 1, len(labels)):
        return f"field 'num_keywords' must be a whole number from 1 to {len(labels)} (the labels)"
    if not integer("arena_bytes", 1, 1 << 24):
        return "field 'arena_bytes' must be a whole number of bytes (1 to 16 MiB)"
    for key in ("input_zero_point", "output_zero_point"):
        if key in meta and not integer(key, -128, 255):
            return f"field {key!r} must be a whole number from -128 to 255"
    for key in ("input_scale", "output_scale"):
        value = meta.get(key, 0.0)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value < 1e6:
            return f"field {key!r} must be a finite number >= 0"
    return None


def model_image_from_run(layout: RunLayout) -> bytes:
    tflite, meta = load_converted_model(layout)
    post = layout.preset.evaluate
    op = records.detector_settings(layout)
    try:
        thresholds, windows = op.per_keyword(int(meta["num_keywords"]))
        return build_model_image(
            tflite,
            list(meta["labels"]),
            int(meta["arena_bytes"]),
            int(meta["num_keywords"]),
            sigmoid_output=bool(meta.get("sigmoid_output", False)),
            # The operating point is the current one (picked for the target by the evaluation, or from the sweep
            # after converting): the weights don't depend on it, so no re-conversion is needed to change it.
            threshold=thresholds,
            average_window=windows,
            refractory_ms=int(post.refractory_ms),
            hop_ms=int(post.hop_ms),
            input_scale=float(meta.get("input_scale", 0.0)),
            input_zero_point=int(meta.get("input_zero_point", 0)),
            output_scale=float(meta.get("output_scale", 0.0)),
            output_zero_point=int(meta.get("output_zero_point", 0)),
            frontend=str(meta.get("frontend", "spectrogram")),
            stride=int(meta.get("stride", 1)),
        )
    except KeyError as exc:
        raise UserError(f"{layout.model_json}: missing {exc}; run `kwtui convert {layout.preset.name}` again") from None
    except ModelImageError as exc:
        raise UserError(f"{layout.model_json}: {exc}") from None


def write_atomic(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        writer.write_bytes(path, data, fsync=True)
    except OSError as exc:
        if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        raise UserError(
            f"{path.parent}: cannot write {path.name} there ({exc.strerror}); make the run folder "
            "writable, or copy it somewhere writable and flash that copy"
        ) from None


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


def partition_source(preset: Preset) -> Path:
    if preset.flash.firmware_bin:
        return Path(preset.flash.firmware_bin) / "partitions.bin"
    return Path(preset.flash.partition_table) if preset.flash.partition_table else DEFAULT_PARTITION_TABLE


def read_partitions(path: Path) -> list[Partition]:
    return read_partition_bin(path) if path.suffix == ".bin" else read_partition_csv(path)


def check_partition_table(preset: Preset) -> Partition:
    """The model partition of the preset's table; raises UserError (naming the table) before any work."""
    table = partition_source(preset)
    return find_model_partition(read_partitions(table), table)


def plan_flash(preset: Preset, image_path: Path, image_bytes: int, chip: str, port: str | None) -> FlashPlan:
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


# --- the stage -------------------------------------------------------------------------------------


def run_flash(
    preset: Preset,
    report: ev.Reporter,
    cancel: ev.CancelToken,
    dry_run: bool = False,
    port: str | None = None,
    force_deploy: bool = False,
) -> dict[str, Any]:
    started = time.monotonic()
    layout = RunLayout(preset)
    report(ev.Started(STAGE, message="dry run: nothing is written to the board" if dry_run else ""))
    # shared: no convert or train can replace the model while it is written to a board; two boards can be
    # flashed from one run folder at once (both write the same partition image, atomically)
    with run_folder.reading(layout.run_dir, STAGE):
        return _flash(preset, layout, report, cancel, dry_run, port, force_deploy, started)


def _flash(
    preset: Preset,
    layout: RunLayout,
    report: ev.Reporter,
    cancel: ev.CancelToken,
    dry_run: bool,
    port: str | None,
    force_deploy: bool,
    started: float,
) -> dict[str, Any]:
    records.require_deployable(layout)
    if force_deploy:
        share = records.held_out_detected_share(layout)
        if share is not None and share < records.MIN_DETECTED_SHARE:
            report(
                ev.StageWarning(
                    STAGE,
                    f"--force: flashing a model that detects {share:.0%} of the held-out keyword "
                    "clips at its operating point",
                )
            )
    elif dry_run:  # nothing is written: show the command, and that flashing itself would refuse this model
        try:
            records.refuse_weak_model(layout, "flash")
        except UserError as exc:
            report(ev.StageWarning(STAGE, f"kwtui flash would refuse this model: {exc}"))
    else:
        records.refuse_weak_model(layout, "flash")
    ownership.claim(layout.run_dir, "run_dir")

    image = model_image_from_run(layout)
    image_path = layout.model_partition_image
    chip: str = preset.flash.chip
    # Check the table and sizes before looking for a board, so layout mistakes show up first.
    plan_flash(preset, image_path, len(image), chip if chip != "auto" else "esp32", None)
    write_atomic(image_path, image)
    cancel.raise_if_cancelled()

    wanted: str | None = port or preset.flash.port
    if wanted == "auto":
        try:
            found = discover_port()
            wanted = found.device
            bridge = USB_BRIDGES.get(found.vid or 0, found.description)
            report(ev.Progress(STAGE, 0, None, unit="bytes", message=f"found {found.device} ({bridge})"))
        except UserError:
            if not dry_run:
                raise
            wanted = None
            report(ev.StageWarning(STAGE, "no serial port found; the command lets esptool search for one"))

    if dry_run:
        if chip == "auto" and preset.flash.firmware_bin:
            raise UserError('flash.chip: "auto" needs a board to detect; set the chip for a dry run with firmware_bin')
        plan = plan_flash(preset, image_path, len(image), chip, wanted)
    else:
        assert wanted is not None  # only a dry run goes without a port (raised above otherwise)
        check_port_access(wanted)
        report(ev.Progress(STAGE, 0, None, unit="bytes", message=f"connecting to {wanted}"))
        # The files to write are known before the chip is (the bootloader's offset depends on it): the logger
        # counts bytes over the plan for the preset's chip, which has the same files and sizes.
        guess = plan_flash(preset, image_path, len(image), chip if chip != "auto" else "esp32", wanted)
        total = sum(path.stat().st_size for _, path in guess.writes)
        logger = make_progress_logger(report, cancel, total, len(guess.writes))
        cancel.raise_if_cancelled()
        chip, plan = flash_board(
            wanted,
            int(preset.flash.baud),
            chip,
            lambda found: plan_flash(preset, image_path, len(image), found, wanted),
            logger,
            report,
        )

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
