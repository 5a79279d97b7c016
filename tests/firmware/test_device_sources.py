"""Device-only firmware sources, checked without an ESP32 toolchain.

Verified here: main.cpp, I2S capture, partition mapping, TFLM inference and the LED hook compile with
-Wall -Wextra -Werror against declaration stubs (firmware/host/esp_stubs); the op resolver registers exactly
the ops the converter allows; PlatformIO uses the partition table with the model partition.
NOT verified here: a PlatformIO build with the real Arduino-ESP32 and TFLM headers, or anything at run time
on a board (I2S levels, timing, memory).
"""

from __future__ import annotations

import configparser
import re
import subprocess

from kwtui.core.stages.convert import FIRMWARE_OPS
from tests.firmware.conftest import FIRMWARE

RESOLVER_NAMES = {
    "AddConv2D": "CONV_2D", "AddDepthwiseConv2D": "DEPTHWISE_CONV_2D", "AddMaxPool2D": "MAX_POOL_2D",
    "AddAveragePool2D": "AVERAGE_POOL_2D", "AddReshape": "RESHAPE", "AddFullyConnected": "FULLY_CONNECTED",
    "AddSoftmax": "SOFTMAX", "AddLogistic": "LOGISTIC", "AddMean": "MEAN", "AddQuantize": "QUANTIZE",
    "AddDequantize": "DEQUANTIZE",
}


def test_device_sources_compile_against_stubs(host_tools):
    build = host_tools["features_host"].parent
    done = subprocess.run(["make", "-C", str(build), "esp_syntax_check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_op_resolver_registers_exactly_the_converter_ops():
    source = (FIRMWARE / "src/app/inference.cpp").read_text()
    header = (FIRMWARE / "src/app/inference.h").read_text()
    added = re.findall(r"r\.(Add\w+)\(\)", source)
    assert sorted(RESOLVER_NAMES[name] for name in added) == sorted(FIRMWARE_OPS)
    assert f"kRegisteredOps = {len(FIRMWARE_OPS)};" in header


def test_platformio_project_uses_the_model_partition_table():
    ini = configparser.ConfigParser(inline_comment_prefixes=(";",))
    ini.read(FIRMWARE / "platformio.ini")
    assert ini["env"]["board_build.partitions"] == "partitions.csv"
    assert ini["env"]["framework"] == "arduino" and ini["env:esp32dev"]["board"] == "esp32dev"
    assert "TensorFlowLite_ESP32" in ini["env"]["lib_deps"]
    assert "[env:esp32s3]" in (FIRMWARE / "platformio.ini").read_text()  # the commented S3 env


def test_detection_line_format_matches_the_monitor_parser():
    header = (FIRMWARE / "src/postprocess/detection_line.h").read_text()
    assert '"DETECT label=%s score=%.3f t_ms=%lu"' in header
