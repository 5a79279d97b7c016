"""Which model the firmware runs (firmware/src/model/model_source.cc, host build).

Verified here: a valid partition image wins; a corrupted or erased partition falls back to the compiled-in
model.cc; with the committed placeholder and no valid partition, nothing runs (the firmware halts with a
message). The firmware also compiles against a model.h/model.cc written by kwtui's real exporter
(kwtui.core.device.firmware_files), which checks the model.h contract. NOT verified here: esp_partition_mmap on a device.
"""

from __future__ import annotations

import subprocess

import pytest

from kwtui.core.device.firmware_files import model_cc_text, model_h_text
from kwtui.core.device.model_image import build_model_image
from tests.firmware.conftest import FIRMWARE, build_host
from tests.helpers.records import converted_meta

PARTITION_LABELS = ["marvin", "_unknown", "_background"]


def run_tool(tool, image: bytes, tmp_path) -> dict[str, str]:
    path = tmp_path / "partition.bin"
    path.write_bytes(image)
    out = subprocess.run([str(tool), str(path)], capture_output=True, text=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines())


@pytest.fixture(scope="module")
def tool_with_compiled_model(tmp_path_factory):
    """model_image_host built against a model.cc/model.h pair from kwtui.core.device.firmware_files (a 2-keyword model)."""
    model_dir = tmp_path_factory.mktemp("generated-model")
    labels = ["yes", "no", "_unknown", "_background"]
    tflite = b"\x1c\x00\x00\x00TFL3" + bytes(range(256)) * 8
    meta = converted_meta(labels, 2, len(tflite), arena_bytes=31_232, preset="compiled")
    (model_dir / "model.h").write_text(model_h_text(meta))
    (model_dir / "model.cc").write_text(model_cc_text(tflite, meta))
    build = tmp_path_factory.mktemp("host-build-compiled-model")
    build_host(FIRMWARE / "host", build, f"-DKWT_MODEL_DIR={model_dir}", targets=("model_image_host",))
    return build / "model_image_host"


@pytest.fixture
def image() -> bytes:
    return build_model_image(b"TFL3" * 5000, PARTITION_LABELS, 20_480, 1)


def test_valid_partition_is_used(host_tools, image, tmp_path):
    fields = run_tool(host_tools["model_image_host"], image, tmp_path)
    assert (fields["selected"], fields["selected_usable"], fields["selected_arena"]) == ("partition", "1", "20480")
    assert [fields[f"selected_label{i}"] for i in range(3)] == PARTITION_LABELS


def test_placeholder_and_bad_partition_means_no_model(host_tools, tmp_path):
    fields = run_tool(host_tools["model_image_host"], b"\xff" * 4096, tmp_path)
    assert (fields["status"], fields["selected"], fields["selected_usable"]) == ("bad_magic", "none", "0")


def test_corrupted_partition_falls_back_to_compiled_in_model(tool_with_compiled_model, image, tmp_path):
    broken = bytearray(image)
    broken[-1] ^= 0xFF
    fields = run_tool(tool_with_compiled_model, bytes(broken), tmp_path)
    assert (fields["status"], fields["selected"], fields["selected_usable"]) == ("bad_model_crc", "compiled-in", "1")
    assert fields["selected_arena"] == "31232"
    assert [fields[f"selected_label{i}"] for i in range(4)] == ["yes", "no", "_unknown", "_background"]


def test_valid_partition_wins_over_compiled_in_model(tool_with_compiled_model, image, tmp_path):
    assert run_tool(tool_with_compiled_model, image, tmp_path)["selected"] == "partition"


def test_committed_placeholder_is_marked_and_empty():
    header = (FIRMWARE / "lib/neural_network/src/model.h").read_text()
    source = (FIRMWARE / "lib/neural_network/src/model.cc").read_text()
    assert "PLACEHOLDER" in header and "PLACEHOLDER" in source and "g_model_len = 0;" in source
