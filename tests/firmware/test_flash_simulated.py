"""`kwtui flash` end to end: the real esptool (through its public API) writes into a simulated ESP32.

The board is a simulation (tests/helpers/esp32_sim.py: the ROM loader's and the flasher stub's serial protocol on
a pseudo-terminal, a 4 MB flash in memory), because no board is attached where the tests run. Verified here: port
opened, chip detected, stub loaded, baud rate raised, flash attached, files written and MD5-verified, the board
reset, and what lands where in flash; the error lines of a board that never answers, is another chip, corrupts a
block or drops the line. Not verified here: a real chip's timing, its USB-serial bridge and its boot afterwards.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from kwtui.core.device.partitions import read_partition_csv
from kwtui.core.preset import save_preset
from tests.firmware.conftest import FIRMWARE
from tests.firmware.test_flash import firmware_build  # noqa: F401 - a fixture
from tests.helpers.corpus import kwtui
from tests.helpers.esp32_sim import FLASH_SIZE, SimulatedEsp32

ERASED = 0xFF


def _flash(preset, tmp_path: Path, port: str) -> subprocess.CompletedProcess:
    preset_file = save_preset(preset, tmp_path / "fw.toml")
    return kwtui("flash", preset_file, "--port", port, timeout=120)


def _model_offset() -> int:
    return next(p.offset for p in read_partition_csv(FIRMWARE / "partitions.csv") if p.name == "model")


def _untouched_outside(flash: bytearray, regions: list[tuple[int, int]]) -> bool:
    """Every byte outside the written regions is still erased."""
    edges = sorted(regions) + [(FLASH_SIZE, FLASH_SIZE)]
    position = 0
    for start, end in edges:
        if flash[position:start].count(ERASED) != start - position:
            return False
        position = max(position, end)
    return True


def test_the_model_partition_lands_at_its_offset_and_nothing_else_changes(converted_run, tmp_path):
    preset = converted_run(flash={"chip": "esp32"})
    with SimulatedEsp32() as board:
        started = time.monotonic()
        done = _flash(preset, tmp_path, board.port)
        seconds = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    image = (Path(preset.run_dir) / "model_partition.bin").read_bytes()
    offset = _model_offset()
    assert bytes(board.flash[offset : offset + len(image)]) == image
    assert _untouched_outside(board.flash, [(offset, offset + len(image))])
    # the real path: stub loaded (MEM_*), the preset's baud rate, MD5 verified; sent as they are or deflated
    # (esptool compresses when that is smaller: a flatbuffer's header and padding are)
    sent = set(board.commands)
    assert {"MEM_BEGIN", "MEM_END", "SPI_FLASH_MD5"} <= sent
    assert {"FLASH_BEGIN", "FLASH_DATA"} <= sent or {"FLASH_DEFL_BEGIN", "FLASH_DEFL_DATA"} <= sent
    assert board.stub and board.baud_changes == [preset.flash.baud]
    assert seconds < 30, f"a model partition write took {seconds:.0f} s"
    assert "[flash] done" in done.stderr


def test_with_a_firmware_build_bootloader_table_and_app_land_at_their_offsets(
    converted_run,
    firmware_build,  # noqa: F811
    tmp_path,
):
    preset = converted_run(flash={"chip": "esp32", "firmware_bin": str(firmware_build)})
    with SimulatedEsp32() as board:
        done = _flash(preset, tmp_path, board.port)
    assert done.returncode == 0, done.stderr
    image = (Path(preset.run_dir) / "model_partition.bin").read_bytes()
    written = [
        (0x1000, (firmware_build / "bootloader.bin").read_bytes()),
        (0x8000, (firmware_build / "partitions.bin").read_bytes()),
        (0x10000, (firmware_build / "firmware.bin").read_bytes()),
        (0x2D0000, image),
    ]
    for offset, data in written:
        assert bytes(board.flash[offset : offset + len(data)]) == data, hex(offset)
    assert "FLASH_DEFL_DATA" in board.commands  # the (placeholder) firmware compresses: the deflate path
    assert _untouched_outside(board.flash, [(o, o + len(d)) for o, d in written])


@pytest.mark.parametrize(
    "misbehave, code, words",
    [
        ("silent", 1, "did not answer"),
        ("noise", 1, "is not an ESP32 bootloader"),
        ("esp32s3", 2, "flash.chip: the preset says esp32 but the board"),
        ("corrupt", 1, "MD5"),
    ],
)
def test_a_misbehaving_board_ends_in_one_line_and_its_exit_code(converted_run, tmp_path, misbehave, code, words):
    preset = converted_run(flash={"chip": "esp32"})
    with SimulatedEsp32(misbehave=misbehave) as board:
        done = _flash(preset, tmp_path, board.port)
    assert done.returncode == code, (done.stdout, done.stderr)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and words in errors[0], done.stderr
    assert "Traceback" not in done.stderr


def test_a_line_dropped_mid_write_leaves_a_partition_the_firmware_rejects(converted_run, tmp_path, host_tools):
    preset = converted_run(flash={"chip": "esp32"})
    with SimulatedEsp32(misbehave="hangup", hangup_after=2) as board:
        done = _flash(preset, tmp_path, board.port)
    assert done.returncode == 1, done.stderr
    assert len([line for line in done.stderr.splitlines() if line.startswith("error:")]) == 1, done.stderr
    offset = _model_offset()
    image = (Path(preset.run_dir) / "model_partition.bin").read_bytes()
    partition = tmp_path / "partition.bin"
    partition.write_bytes(bytes(board.flash[offset : offset + len(image)]))
    assert partition.read_bytes() != image
    parsed = subprocess.run([str(host_tools["model_image_host"]), str(partition)], capture_output=True, text=True)
    # the firmware's own parser refuses it, so the device boots its compiled-in model
    assert parsed.returncode != 0 and "status=ok" not in parsed.stdout, parsed.stdout
