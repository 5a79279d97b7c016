"""Flash stage: model image from the run folder, partition tables, port discovery, esptool command, errors.

Verified here: the exact esptool command (and that esptool's own argument parser accepts it), the model image
written to the run folder, partition offsets from CSV and binary tables, port ranking by USB vendor id, the
progress hook, and every user error path (no model, no port, missing or unreadable port, wrong chip, no model
partition, image larger than the partition, incomplete firmware folder).
NOT verified here (no board on CI): talking to a real ESP32 - chip detection and write-flash over serial.
"""

from __future__ import annotations

import json
import os
import shlex
import struct
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from kwtui.core import events as ev
from kwtui.core.device import esptool_api, partitions, ports
from kwtui.core.device.model_image import parse_model_image
from kwtui.core.errors import Cancelled, KwtuiError, UserError
from kwtui.core.stages import flash

REPO = Path(__file__).resolve().parents[2]


def events_sink():
    seen: list = []
    return seen, seen.append


def esptool_parses(args: list[str]) -> dict:
    """Let esptool's own click parser read the arguments (no port is opened)."""
    from esptool import cli

    cli._esp = None  # set by esptool.main before parsing; the parser reads it
    ctx = cli.make_context("esptool", list(args))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # click 8.2 deprecates protected_args
        name, command, rest = cli.resolve_command(ctx, [*ctx.protected_args, *ctx.args])
    sub = command.make_context(name, rest, parent=ctx)
    for _, handle in sub.params["addr_filename"]:
        handle.close()
    return {
        "chip": ctx.params["chip"],
        "port": ctx.params["port"],
        "command": name,
        "writes": [addr for addr, _ in sub.params["addr_filename"]],
    }


def test_dry_run_builds_image_and_returns_exact_command(converted_run):
    preset = converted_run()
    seen, report = events_sink()
    summary = flash.run_flash(preset, report, ev.CancelToken(), dry_run=True, port="/dev/ttyUSB7")
    image_path = Path(preset.run_dir) / "model_partition.bin"
    image = parse_model_image(image_path.read_bytes())
    assert image.labels == ["marvin", "_unknown", "_background"] and image.arena_size == 24_576
    assert image.model == (Path(preset.run_dir) / "model.tflite").read_bytes()
    argv = shlex.split(summary["command"])
    assert argv[:3] == [sys.executable, "-m", "esptool"]
    assert argv[3:] == [
        "--chip",
        "esp32",
        "--port",
        "/dev/ttyUSB7",
        "--baud",
        "460800",
        "--before",
        "default-reset",
        "--after",
        "hard-reset",
        "write-flash",
        "0x2d0000",
        str(image_path),
    ]
    assert esptool_parses(argv[3:]) == {
        "chip": "esp32",
        "port": "/dev/ttyUSB7",
        "command": "write-flash",
        "writes": [0x2D0000],
    }
    assert summary["model_offset"] == "0x2d0000" and summary["partition_bytes"] == 0x100000
    assert isinstance(seen[0], ev.Started) and isinstance(seen[-1], ev.Finished)
    assert seen[-1].summary == summary


def _partitions_bin(rows: list[tuple[str, int, int, int, int]]) -> bytes:
    out = b"".join(
        struct.pack("<HBBII16sI", 0x50AA, t, s, off, size, name.encode(), 0) for name, t, s, off, size in rows
    )
    return out + b"\xeb\xeb" + b"\xff" * 14 + b"\0" * 16 + b"\xff" * (0xC00 - len(out) - 32)


@pytest.fixture
def firmware_build(tmp_path) -> Path:
    """What `pio run` leaves in .pio/build/esp32dev (contents are placeholders; the table is real)."""
    folder = tmp_path / "pio-build"
    folder.mkdir()
    (folder / "bootloader.bin").write_bytes(b"\xe9" + bytes(20_000))
    (folder / "firmware.bin").write_bytes(b"\xe9" + bytes(900_000))
    (folder / "partitions.bin").write_bytes(
        _partitions_bin(
            [
                ("nvs", 1, 2, 0x9000, 0x5000),
                ("phy_init", 1, 1, 0xE000, 0x1000),
                ("factory", 0, 0, 0x10000, 0x2C0000),
                ("model", 1, 0x40, 0x2D0000, 0x100000),
            ]
        )
    )
    return folder


def test_image_takes_the_operating_point_chosen_after_conversion(converted_run):
    """A threshold picked from the sweep after `convert` reaches the device without re-converting."""
    import dataclasses

    preset = converted_run()  # model.json says threshold 0.9, window 3, refractory 1000; the preset's hop
    chosen = dataclasses.replace(preset.evaluate, threshold=0.65, average_window=5, refractory_ms=1500.0)
    preset = dataclasses.replace(preset, evaluate=chosen)
    flash.run_flash(preset, events_sink()[1], ev.CancelToken(), dry_run=True, port="/dev/ttyUSB7")
    image = parse_model_image((Path(preset.run_dir) / "model_partition.bin").read_bytes())
    assert abs(image.threshold - 0.65) < 1e-6
    assert (image.average_window, image.refractory_ms, image.hop_ms) == (5, 1500, int(preset.evaluate.hop_ms))


def test_dry_run_with_a_built_firmware_writes_all_four_files(converted_run, firmware_build):
    preset = converted_run(flash={"firmware_bin": str(firmware_build), "chip": "esp32", "baud": 921600})
    summary = flash.run_flash(preset, ev.ignore, ev.CancelToken(), dry_run=True, port="/dev/ttyACM0")
    argv = shlex.split(summary["command"])[3:]
    assert argv[argv.index("write-flash") + 1 :] == [
        "--flash-mode",
        "keep",
        "--flash-freq",
        "keep",
        "--flash-size",
        "keep",
        "0x1000",
        str(firmware_build / "bootloader.bin"),
        "0x8000",
        str(firmware_build / "partitions.bin"),
        "0x10000",
        str(firmware_build / "firmware.bin"),
        "0x2d0000",
        str(Path(preset.run_dir) / "model_partition.bin"),
    ]
    assert esptool_parses(argv)["writes"] == [0x1000, 0x8000, 0x10000, 0x2D0000]
    assert summary["files"] == 4


def test_esp32s3_bootloader_goes_to_offset_zero(converted_run, firmware_build):
    preset = converted_run(flash={"firmware_bin": str(firmware_build), "chip": "esp32s3"})
    argv = shlex.split(flash.run_flash(preset, ev.ignore, ev.CancelToken(), dry_run=True, port="p")["command"])
    assert argv[argv.index("keep", argv.index("--flash-size")) + 1 :][:2] == [
        "0x0",
        str(firmware_build / "bootloader.bin"),
    ]


def test_cli_dry_run_prints_the_command_and_json(converted_run, tmp_path):
    preset = converted_run()
    preset_path = tmp_path / "fw.toml"
    preset_path.write_text(preset.to_toml())
    kwtui = [sys.executable, "-m", "kwtui"]
    done = subprocess.run(
        kwtui + ["flash", str(preset_path), "--dry-run", "--port", "/dev/ttyUSB3", "--json"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]  # stdout holds JSON lines only
    finished = [e for e in events if e["event"] == "finished"][-1]
    assert "-m esptool --chip esp32 --port /dev/ttyUSB3" in finished["summary"]["command"]
    assert finished["summary"]["dry_run"] is True


def test_no_converted_model_says_run_convert(converted_run, tmp_path):
    preset = converted_run(write_model=False)
    with pytest.raises(UserError, match=r"model.tflite: no converted model; run `kwtui convert fw` first"):
        flash.run_flash(preset, ev.ignore, ev.CancelToken(), dry_run=True, port="p")


def test_a_converted_model_changed_since_its_conversion_is_not_flashed(converted_run, tmp_path):
    """model.json describes the .tflite it was written with (size, sha256): another file there is refused."""
    from kwtui.core.io.layout import RunLayout

    preset = converted_run()
    with open(RunLayout(preset).tflite, "ab") as model:
        model.write(b"\0")
    with pytest.raises(UserError, match=r"model.json says .*: run `kwtui convert fw` first"):
        flash.run_flash(preset, ev.ignore, ev.CancelToken(), dry_run=True, port="p")


def test_cli_error_is_one_line_with_exit_code_2(converted_run, tmp_path):
    preset = converted_run(write_model=False)
    preset_path = tmp_path / "fw.toml"
    preset_path.write_text(preset.to_toml())
    done = subprocess.run(
        [sys.executable, "-m", "kwtui", "flash", str(preset_path), "--dry-run"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: ") and "Traceback" not in done.stderr


def test_partition_table_without_model_partition(converted_run, tmp_path):
    table = tmp_path / "no_model.csv"
    table.write_text("nvs, data, nvs, 0x9000, 0x5000\nfactory, app, factory, 0x10000, 0x300000\n")
    preset = converted_run(flash={"partition_table": str(table)})
    with pytest.raises(UserError, match="no model partition"):
        flash.run_flash(preset, ev.ignore, ev.CancelToken(), dry_run=True, port="p")


def test_model_image_larger_than_partition(converted_run, tmp_path):
    table = tmp_path / "small.csv"
    table.write_text("factory, app, factory, 0x10000, 1M\nmodel, data, 0x40, , 64K\n")
    preset = converted_run(model_bytes=70_000, flash={"partition_table": str(table)})
    with pytest.raises(UserError, match=r"model image is 70\d\d\d bytes but the `model` partition .* holds 65536"):
        flash.run_flash(preset, ev.ignore, ev.CancelToken(), dry_run=True, port="p")


def test_incomplete_firmware_folder(converted_run, firmware_build):
    (firmware_build / "bootloader.bin").unlink()
    preset = converted_run(flash={"firmware_bin": str(firmware_build)})
    with pytest.raises(UserError, match="lacks bootloader"):
        flash.run_flash(preset, ev.ignore, ev.CancelToken(), dry_run=True, port="p")


def test_no_serial_port_found(converted_run, monkeypatch):
    monkeypatch.setattr(ports, "list_ports", lambda: [ports.PortInfo("/dev/ttyS0", None, "n/a")])
    with pytest.raises(UserError, match="no serial port found"):
        flash.run_flash(converted_run(), ev.ignore, ev.CancelToken())


def test_dry_run_without_a_board_lets_esptool_search(converted_run, monkeypatch):
    monkeypatch.setattr(ports, "list_ports", lambda: [])
    seen, report = events_sink()
    summary = flash.run_flash(converted_run(), report, ev.CancelToken(), dry_run=True)
    assert "--port" not in summary["command"]
    assert any(isinstance(e, ev.StageWarning) and "no serial port found" in e.message for e in seen)


def test_nonexistent_port(converted_run, tmp_path):
    with pytest.raises(UserError, match="no such serial port"):
        flash.run_flash(converted_run(), ev.ignore, ev.CancelToken(), port=str(tmp_path / "ttyUSB9"))


def test_permission_denied_mentions_dialout(converted_run, tmp_path):
    """A port file with mode 000, opened by a process without DAC-override (root drops it with setpriv)."""
    import shutil

    preset = converted_run()
    preset_path = tmp_path / "fw.toml"
    preset_path.write_text(preset.to_toml())
    port = tmp_path / "ttyUSB0"
    port.write_bytes(b"")
    os.chmod(port, 0o000)
    command = [sys.executable, "-m", "kwtui", "flash", str(preset_path), "--port", str(port)]
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv: cannot lose the right to open any file")
        caps = "-dac_override,-dac_read_search"
        command = ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}", *command]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {port}: permission denied") and "dialout" in last


def test_esptool_failures_become_one_line_errors():
    wrong = esptool_api.esptool_error(
        Exception("This chip is ESP32-S3, not ESP32. Wrong chip argument?"), "/dev/ttyUSB0"
    )
    assert isinstance(wrong, UserError) and "flash.chip" in str(wrong)
    denied = esptool_api.esptool_error(
        Exception("Could not open /dev/ttyUSB0, the port is busy or doesn't exist.\n([Errno 13] Permission denied)"),
        "/dev/ttyUSB0",
    )
    assert isinstance(denied, UserError) and "dialout" in str(denied) and "\n" not in str(denied)
    silent = esptool_api.esptool_error(
        Exception("Failed to connect to ESP32: No serial data received."), "/dev/ttyUSB0"
    )
    assert type(silent) is KwtuiError and "BOOT" in str(silent)


def test_wrong_chip_is_a_user_error():
    with pytest.raises(UserError, match=r'board on /dev/ttyUSB0 is ESP32-S3; set flash.chip = "esp32s3"'):
        ports.check_chip("esp32", "ESP32-S3", "/dev/ttyUSB0")
    assert ports.check_chip("auto", "ESP32-C3", "p") == "esp32c3"
    assert ports.check_chip("esp32", "ESP32", "p") == "esp32"


def test_port_ranking_prefers_esp32_bridges():
    found = [
        ports.PortInfo("/dev/ttyS0", None, "built-in UART"),
        ports.PortInfo("/dev/ttyACM1", 0x2341, "Arduino Uno"),
        ports.PortInfo("/dev/ttyUSB1", 0x0403, "FT232R"),
        ports.PortInfo("/dev/ttyUSB0", 0x10C4, "CP2102"),
    ]
    assert [p.device for p in ports.rank_ports(found)] == ["/dev/ttyUSB0", "/dev/ttyUSB1", "/dev/ttyACM1"]
    assert ports.discover_port(found).device == "/dev/ttyUSB0"
    assert ports.discover_port([ports.PortInfo("/dev/ttyACM0", 0x303A, "USB JTAG")]).device == "/dev/ttyACM0"


def test_shipped_partition_table_has_room_for_the_model():
    parts = {p.name: p for p in partitions.read_partition_csv(partitions.DEFAULT_PARTITION_TABLE)}
    model, app = parts["model"], parts["factory"]
    assert (model.type, model.subtype) == ("data", 0x40) and model.size >= 64 * 1024
    assert model.offset % 0x1000 == 0 and app.offset + app.size <= model.offset
    assert model.offset + model.size <= 4 * 1024 * 1024


def test_partition_csv_auto_offsets_and_suffixes(tmp_path):
    table = tmp_path / "p.csv"
    table.write_text(
        "# comment\nnvs, data, nvs, , 0x6000\nphy_init, data, phy, , 4K\n"
        "factory, app, factory, , 1M\nmodel, data, 0x40, , 256K\n"
    )
    parts = partitions.read_partition_csv(table)
    assert [(p.name, p.offset, p.size) for p in parts] == [
        ("nvs", 0x9000, 0x6000),
        ("phy_init", 0xF000, 0x1000),
        ("factory", 0x10000, 0x100000),
        ("model", 0x110000, 0x40000),
    ]


def test_binary_partition_table(firmware_build):
    parts = partitions.read_partition_bin(firmware_build / "partitions.bin")
    assert partitions.find_model_partition(parts, firmware_build).offset == 0x2D0000
    assert [p.name for p in parts] == ["nvs", "phy_init", "factory", "model"]


def test_esptool_progress_becomes_byte_progress_over_all_files():
    """esptool 5 reports each file through log.progress(total=file bytes); kwtui adds them up."""
    from esptool.logger import log

    seen, report = events_sink()
    cancel = ev.CancelToken()
    logger = esptool_api.make_progress_logger(report, cancel, 3000, files=2)
    with esptool_api._quiet_esptool(logger):
        for size in (1000, 2000):  # the second file's first block (1000) is not below the first's end
            with log.progress(total=size, unit="B") as task:
                for _ in range(size // 1000 if size == 2000 else 2):
                    task.update(1000 if size == 2000 else 500)
        log.print("Hash of data verified.")
    progress = [e for e in seen if isinstance(e, ev.Progress)]
    assert [p.done for p in progress] == [500, 1000, 2000, 3000]
    assert {p.total for p in progress} == {3000} and progress[-1].message == "writing file 2/2"
    assert "Hash of data verified." in logger.lines
    cancel.cancel()
    with pytest.raises(Cancelled):
        logger.progress_bar(5, 10)


def test_esptool_gets_its_own_logger_back():
    from esp_pylib.logger import EspLog

    before = EspLog.instance
    with esptool_api._quiet_esptool():
        assert EspLog.instance is not before
    assert EspLog.instance is before


def test_a_port_where_no_esp32_answers(converted_run, tmp_path):
    """Real esptool against a pseudo-terminal nobody answers on: exit 1 with a one-line hint (~6 s)."""
    master, slave = os.openpty()
    try:
        preset = converted_run()
        preset_path = tmp_path / "fw.toml"
        preset_path.write_text(preset.to_toml())
        done = subprocess.run(
            [sys.executable, "-m", "kwtui", "flash", str(preset_path), "--port", os.ttyname(slave)],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=120,
        )
    finally:
        os.close(master)
        os.close(slave)
    assert done.returncode == 1, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "did not answer" in last and "BOOT" in last
