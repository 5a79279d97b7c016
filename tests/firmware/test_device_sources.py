"""Device-only firmware sources, checked without an ESP32 toolchain.

Verified here: main.cpp, I2S capture, partition mapping, TFLM inference and the LED hook compile with
-Wall -Wextra -Werror against declaration stubs (firmware/host/esp_stubs), everywhere, CI included; the op
resolver registers exactly the ops the converter allows; the ESP-IDF project uses the partition table with the
model partition and pins its TFLM. Against the real ESP-IDF and esp-tflite-micro sources: test_idf_headers.py and
test_pinned_runtime.py. NOT verified anywhere here: a PlatformIO build with the Xtensa toolchain, or anything at
run time on a board (I2S levels, timing).
"""

from __future__ import annotations

import configparser
import re
import subprocess

from kwtui.core.stages.convert import FIRMWARE_OPS
from tests.firmware.conftest import FIRMWARE

RESOLVER_NAMES = {
    "AddConv2D": "CONV_2D",
    "AddDepthwiseConv2D": "DEPTHWISE_CONV_2D",
    "AddMaxPool2D": "MAX_POOL_2D",
    "AddAveragePool2D": "AVERAGE_POOL_2D",
    "AddReshape": "RESHAPE",
    "AddFullyConnected": "FULLY_CONNECTED",
    "AddSoftmax": "SOFTMAX",
    "AddLogistic": "LOGISTIC",
    "AddMean": "MEAN",
    "AddQuantize": "QUANTIZE",
    "AddDequantize": "DEQUANTIZE",
    "AddVarHandle": "VAR_HANDLE",
    "AddReadVariable": "READ_VARIABLE",
    "AddAssignVariable": "ASSIGN_VARIABLE",
    "AddCallOnce": "CALL_ONCE",
    "AddConcatenation": "CONCATENATION",
    "AddStridedSlice": "STRIDED_SLICE",
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


def test_esp_idf_project_uses_the_model_partition_table_and_pins_its_tflm():
    ini = configparser.ConfigParser(inline_comment_prefixes=(";",))
    ini.read(FIRMWARE / "platformio.ini")
    assert ini["env"]["board_build.partitions"] == "partitions.csv"
    assert ini["env"]["framework"] == "espidf" and ini["env:esp32dev"]["board"] == "esp32dev"
    assert re.fullmatch(r"espressif32@\d+\.\d+\.\d+", ini["env"]["platform"])  # exact, not a range
    assert ini["env"]["lib_ignore"] == "neural_network"  # src/CMakeLists.txt compiles the model instead
    assert "[env:esp32s3]" in (FIRMWARE / "platformio.ini").read_text()  # the commented S3 env
    defaults = (FIRMWARE / "sdkconfig.defaults").read_text()
    assert 'CONFIG_PARTITION_TABLE_CUSTOM_FILENAME="partitions.csv"' in defaults
    assert "CONFIG_ESP_CONSOLE_UART_BAUDRATE=115200" in defaults
    components = (FIRMWARE / "src/idf_component.yml").read_text()
    assert re.search(r'espressif/esp-tflite-micro: "==\d+\.\d+\.\d+"', components)
    assert re.search(r'espressif/esp-nn: "==[\d.~]+"', components)
    assert "lib/neural_network/src" in (FIRMWARE / "src/CMakeLists.txt").read_text()


def test_detection_line_format_matches_the_monitor_parser():
    header = (FIRMWARE / "src/postprocess/detection_line.h").read_text()
    assert '"DETECT label=%s score=%.3f t_ms=%lu"' in header
