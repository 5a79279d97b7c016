"""The device-only firmware files compile against the real ESP-IDF headers of the version the PlatformIO pin
brings (firmware/platformio.ini), and the inference code against the pinned esp-tflite-micro (in
test_pinned_runtime.py). Compile-only: no Xtensa toolchain here. Skips, saying why, without the IDF sources."""

from __future__ import annotations

import pytest

from tests.helpers import firmware_runtime
from tests.helpers.firmware_runtime import FIRMWARE

DEVICE_FILES = [
    "main.cpp",
    "audio/i2s_mic.cpp",
    "app/detection_hook.cpp",
    "model/partition_esp32.cpp",
    "platform/platform_esp32.cpp",
]


@pytest.fixture(scope="module")
def components():
    found = firmware_runtime.idf_components()
    if isinstance(found, str):
        pytest.skip(found)
    frontend = firmware_runtime.micro_features_source()  # main.cpp includes TFLM's audio frontend
    if isinstance(frontend, str):
        pytest.skip(frontend)
    if not firmware_runtime._m32_works():
        pytest.skip("g++ -m32 does not link (install g++-multilib)")
    return found


@pytest.mark.parametrize("name", DEVICE_FILES)
def test_device_file_compiles_against_the_real_esp_idf_headers(components, name):
    done = firmware_runtime.compile_against_idf(FIRMWARE / "src" / name, components)
    assert done.returncode == 0, done.stderr[-3000:]


def test_the_check_can_fail(components, tmp_path):
    """An API of ESP-IDF 4 (the legacy I2S driver's i2s_read) is not in the version the firmware pins."""
    source = tmp_path / "old_api.cpp"
    source.write_text("#include <driver/i2s_std.h>\nvoid f() { size_t n; i2s_read(0, nullptr, 0, &n, 0); }\n")
    assert firmware_runtime.compile_against_idf(source, components).returncode != 0
