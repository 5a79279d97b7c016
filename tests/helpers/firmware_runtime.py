"""The firmware's own inference path (firmware/src/app/inference.cpp) built on the host against the firmware's
pinned TFLM (esp-tflite-micro + ESP-NN, versions from firmware/src/idf_component.yml) with 4-byte pointers
(g++ -m32), as the ESP32 runs it.

The pinned sources are not on PyPI. They come, in this order, from
- KWT_ESP_TFLITE_MICRO_DIR / KWT_ESP_NN_DIR / KWT_ESP_IDF_DIR / KWT_MICRO_FEATURES_DIR: source trees of the pinned
  versions;
- the archives of the project's shared folder (`git archive` exports of the pinned tags, listed with their commits
  in its README): KWT_FIRMWARE_SOURCES, by default `../shared/firmware-sources/` beside the checkout. Each is
  unpacked once into ~/.cache/kwtui/sources/ (a folder named like the archive; a half-unpacked one is never used).
Without them `available()` says why: the tests that need them skip on a user's machine and fail under CI=true
(tests/conftest.py), so CI cannot pass without running them.
The build is cached per pinned version under ~/.cache/kwtui (the library takes minutes; the firmware's files
rebuild incrementally).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "kwtui"


def pinned_versions() -> dict[str, str]:
    text = (FIRMWARE / "src/idf_component.yml").read_text()
    return {name: version for name, version in re.findall(r'espressif/(esp-[\w-]+):\s*"==([\w.~-]+)"', text)}


def archives_folder() -> Path:
    """Where the pinned source archives are looked for."""
    given = os.environ.get("KWT_FIRMWARE_SOURCES")
    return Path(given) if given else FIRMWARE.parent.parent / "shared" / "firmware-sources"


def _unpacked(stem: str) -> Path | None:
    """The tree of archive `<stem>.tar.gz` (its one top folder), unpacked once into the cache; None without it."""
    target = CACHE / "sources" / stem
    if (target / ".complete").is_file():
        return target
    archive = archives_folder() / f"{stem}.tar.gz"
    if not archive.is_file():
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{stem}.", dir=target.parent))
    with tarfile.open(archive) as tar:
        tar.extractall(scratch, filter="data")
    tops = [p for p in scratch.iterdir() if p.is_dir()]
    if len(tops) != 1:
        shutil.rmtree(scratch)
        raise RuntimeError(f"{archive}: expected one top folder, found {len(tops)}")
    (tops[0] / ".complete").write_text(archive.name)
    shutil.rmtree(target, ignore_errors=True)  # an earlier half-unpacked tree (no .complete)
    try:
        tops[0].rename(target)  # the tree appears whole or not at all
    except OSError:
        if not (target / ".complete").is_file():  # not another test process that unpacked it first
            raise
    shutil.rmtree(scratch)
    return target


def _source(env: str, stem: str) -> Path | None:
    given = os.environ.get(env)
    return Path(given) if given else _unpacked(stem)


def sources() -> tuple[Path, Path] | str:
    """(esp-tflite-micro, esp-nn) source trees of the pinned versions, or why there are none."""
    versions = pinned_versions()
    tflm_dir = _source("KWT_ESP_TFLITE_MICRO_DIR", f"esp-tflite-micro-{versions['esp-tflite-micro']}")
    nn_dir = _source("KWT_ESP_NN_DIR", f"esp-nn-{versions['esp-nn']}")
    if tflm_dir is None or nn_dir is None:
        return (
            "the firmware's pinned TFLM sources are not on this machine (esp-tflite-micro "
            f"{versions['esp-tflite-micro']}, esp-nn {versions['esp-nn']}: no archives in {archives_folder()}; "
            "set KWT_FIRMWARE_SOURCES, or KWT_ESP_TFLITE_MICRO_DIR and KWT_ESP_NN_DIR)"
        )
    return tflm_dir, nn_dir


MICRO_FEATURES_VERSION = "1.1.0"  # kahrendt/ESPMicroSpeechFeatures, TFLM's audio frontend as ESPHome builds it


def micro_features_source() -> Path | str:
    """ESPMicroSpeechFeatures' source tree at the pinned version, or why there is none."""
    found = _source("KWT_MICRO_FEATURES_DIR", f"ESPMicroSpeechFeatures-{MICRO_FEATURES_VERSION}")
    if found is None:
        return (
            f"ESPMicroSpeechFeatures {MICRO_FEATURES_VERSION} sources are not on this machine (no archive in "
            f"{archives_folder()}; set KWT_FIRMWARE_SOURCES or KWT_MICRO_FEATURES_DIR)"
        )
    return found


def _m32_works() -> bool:
    probe = subprocess.run(
        ["g++", "-m32", "-x", "c++", "-", "-o", os.devnull], input="int main(){}", capture_output=True, text=True
    )
    return probe.returncode == 0


def available() -> str | None:
    """None when the 32-bit firmware runtime can be built here, else why not."""
    if shutil.which("g++") is None or shutil.which("cmake") is None:
        return "g++ and cmake are needed"
    found = sources()
    if isinstance(found, str):
        return found
    if not _m32_works():
        return "g++ -m32 does not link (install g++-multilib)"
    return None


# GCC's -Wstringop-overread misfires on flatbuffers' String::c_str() once ASan instruments it (a size-0 object
# at the string's offset): off in this build only, the normal build keeps -Werror for it. pointer-overflow is off
# everywhere: flatbuffers' Verifier (header code, inlined into the firmware's own sources) forms the pointer an
# offset names before checking that it lies inside the buffer - that check is what refuses the model - and any
# access through such a pointer is still ASan's to catch.
SANITIZERS = (
    "-fsanitize=address,undefined -fno-sanitize=pointer-overflow -fno-sanitize-recover=all "
    "-fno-omit-frame-pointer -Wno-stringop-overread"
)
# what a sanitized tool runs with: any report ends it with exit code SANITIZER_EXIT (leak checks do not run -m32)
SANITIZER_EXIT = 99
SANITIZER_ENV = {
    "ASAN_OPTIONS": f"detect_leaks=0:abort_on_error=0:exitcode={SANITIZER_EXIT}",
    "UBSAN_OPTIONS": f"halt_on_error=1:print_stacktrace=1:exitcode={SANITIZER_EXIT}",
}


def build(sanitized: bool = False) -> Path:
    """The 32-bit inference_host, built (or brought up to date) in the cache; `sanitized`: with AddressSanitizer
    and UndefinedBehaviorSanitizer over the firmware's code and its TFLM alike (run it with SANITIZER_ENV)."""
    tflm_dir, nn_dir = sources()  # type: ignore[misc]
    versions = pinned_versions()
    # One build folder per checkout: CMake refuses a cache generated from another source folder.
    checkout = hashlib.sha256(str(FIRMWARE).encode()).hexdigest()[:12]
    kind = "m32-asan-ubsan" if sanitized else "m32"
    build_dir = CACHE / f"inference_host-{kind}-tflm{versions['esp-tflite-micro']}-nn{versions['esp-nn']}-{checkout}"
    flags = f"-m32 {SANITIZERS}" if sanitized else "-m32"
    # For TFLM and ESP-NN only, UBSan leaves out the arithmetic checks: their fixed-point kernels left-shift
    # negative values by design, and on damaged weights or scales (which no check short of re-running the model can
    # refuse) they shift by 32 or more and overflow int32 accumulators: wrong scores, computed by the chip's
    # compiler as plain machine arithmetic, not a crash. Everything else - every memory access (ASan), null,
    # alignment, bounds, and all of the firmware's own code - stays checked.
    third_party = "-fno-sanitize=shift,signed-integer-overflow" if sanitized else ""
    subprocess.run(
        [
            "cmake",
            "-S",
            str(FIRMWARE / "host"),
            "-B",
            str(build_dir),
            "-DCMAKE_BUILD_TYPE=Release",
            f"-DKWT_TFLM_DIR={tflm_dir}",
            f"-DKWT_ESP_NN_DIR={nn_dir}",
            f"-DCMAKE_CXX_FLAGS={flags}",
            f"-DCMAKE_C_FLAGS={flags}",
            f"-DKWT_TFLM_EXTRA_OPTIONS={third_party}",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    done = subprocess.run(
        ["make", "-C", str(build_dir), f"-j{os.cpu_count() or 2}", "inference_host"], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(done.stdout[-3000:] + done.stderr[-3000:])
    return build_dir / "inference_host"


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str

    @property
    def probabilities(self) -> np.ndarray:
        rows = [line.split() for line in self.stdout.splitlines() if line and line[0].isdigit()]
        return np.array(rows, dtype=np.float64)

    @property
    def arena_used(self) -> int:
        return int(re.search(r"arena_used=(\d+)", self.stdout).group(1))


def run(tool: Path, image: Path, windows: np.ndarray | None = None, arena: int | None = None) -> Outcome:
    """The firmware's inference on (n, 99, 43) feature windows, from a model partition image."""
    data = b"" if windows is None else np.ascontiguousarray(windows, dtype=np.float32).tobytes()
    args = [str(tool), str(image)] + ([str(arena)] if arena is not None else [])
    done = subprocess.run(args, input=data, capture_output=True, timeout=120)
    return Outcome(done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace"))


# --- the real ESP-IDF headers, for a compile-only check of the device files -------------------------------------

IDF_INCLUDE_DIRS = (  # FreeRTOS from IDF's Linux port first (see firmware/host/idf_check/sdkconfig.h)
    "freertos/FreeRTOS-Kernel/portable/linux/include",
    "freertos/FreeRTOS-Kernel/portable/linux/include/freertos",
    "freertos/config/linux/include",
    "freertos/FreeRTOS-Kernel/include",
    "freertos/config/include",
    "freertos/config/include/freertos",
    "freertos/esp_additions/include",
    "esp_driver_i2s/include",
    "esp_driver_gpio/include",
    "esp_partition/include",
    "esp_timer/include",
    "heap/include",
    "esp_common/include",
    "esp_hw_support/include",
    "esp_hw_support/include/soc",
    "soc/esp32/include",
    "soc/esp32/register",
    "soc/include",
    "hal/include",
    "hal/esp32/include",
    "hal/platform_port/include",
    "esp_rom/include",
    "esp_rom/esp32/include",
    "esp_rom/esp32",
    "log/include",
    "esp_system/include",
    "esp_pm/include",
    "spi_flash/include",
    "esp_mm/include",
)


def idf_version() -> str:
    """The ESP-IDF the PlatformIO platform pin brings (stated beside it in firmware/platformio.ini)."""
    return re.search(
        r"platform = espressif32@[\d.]+\s*; ESP-IDF ([\d.]+)", (FIRMWARE / "platformio.ini").read_text()
    ).group(1)


def idf_components() -> Path | str:
    """ESP-IDF's components/ folder at the pinned version, or why there is none."""
    version = idf_version()
    found = _source("KWT_ESP_IDF_DIR", f"esp-idf-{version}-components")
    if found is None:
        return (
            f"ESP-IDF {version} sources are not on this machine (no archive in {archives_folder()}; set "
            "KWT_FIRMWARE_SOURCES or KWT_ESP_IDF_DIR)"
        )
    return found / "components"


def compile_against_idf(source: Path, components: Path) -> subprocess.CompletedProcess:
    includes = [arg for d in IDF_INCLUDE_DIRS for arg in ("-isystem", str(components / d))]
    frontend = micro_features_source()  # main.cpp holds TFLM's audio frontend (src/features/micro_frontend.h)
    if isinstance(frontend, Path):
        includes += ["-isystem", str(frontend / "include")]
    return subprocess.run(
        [
            "g++",
            "-std=gnu++17",
            "-m32",
            "-DESP_PLATFORM",
            "-fsyntax-only",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-I",
            str(FIRMWARE / "host/idf_check"),
            *includes,
            "-I",
            str(FIRMWARE / "src"),
            str(source),
        ],
        capture_output=True,
        text=True,
    )


# --- the firmware's micro frontend (src/features/micro_frontend.cc) on the pinned ESPMicroSpeechFeatures ---------


def build_micro_features(m32: bool = True) -> Path:
    """micro_features_host, built (or brought up to date) in the cache: with 4-byte pointers (g++ -m32) as on the
    chip, or for the host's 64-bit ABI. The folder also holds libmicro_features.a and libkwt_micro_frontend.a."""
    source = micro_features_source()
    if isinstance(source, str):
        raise RuntimeError(source)
    checkout = hashlib.sha256(str(FIRMWARE).encode()).hexdigest()[:12]  # CMake refuses another checkout's cache
    build_dir = CACHE / f"micro_features_host-{'m32' if m32 else 'native'}-{MICRO_FEATURES_VERSION}-{checkout}"
    flags = ["-DCMAKE_CXX_FLAGS=-m32", "-DCMAKE_C_FLAGS=-m32"] if m32 else ["-DCMAKE_CXX_FLAGS=", "-DCMAKE_C_FLAGS="]
    subprocess.run(
        [
            "cmake",
            "-S",
            str(FIRMWARE / "host"),
            "-B",
            str(build_dir),
            "-DCMAKE_BUILD_TYPE=Release",
            f"-DKWT_MICRO_FEATURES_DIR={source}",
            *flags,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    done = subprocess.run(
        ["make", "-C", str(build_dir), f"-j{min(os.cpu_count() or 2, 2)}", "micro_features_host"],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stdout[-3000:] + done.stderr[-3000:])
    return build_dir / "micro_features_host"


# --- the firmware's streaming inference (inference_run_stride / inference_reset) -----------------------------------


def run_stream(
    tool: Path, image: Path, strides: np.ndarray, arena: int | None = None, env: dict[str, str] | None = None
) -> Outcome:
    """The firmware's streaming inference, from a model partition image, on float32 feature slices: one recording
    (n_strides, stride, 40), fed stride after stride, or several (n_recordings, n_strides, stride, 40), with the
    model state reset (inference_reset) before each recording after the first. One line of probabilities per
    stride, in order (Outcome.probabilities: (n_recordings * n_strides, outputs))."""
    x = np.ascontiguousarray(strides, dtype=np.float32)
    per_recording = [str(x.shape[1])] if x.ndim == 4 else []
    args = [str(tool), str(image), str(arena) if arena is not None else "-", *per_recording]
    done = subprocess.run(
        args, input=x.tobytes(), capture_output=True, timeout=300, env={**os.environ, **env} if env else None
    )
    return Outcome(done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace"))


# --- partition images whose header is valid but whose model bytes are not -----------------------------------------

_INTERESTING_WORDS = (0, 1, 0x7F, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)


def mutated_images(image: bytes, count: int, seed: int) -> list[tuple[str, bytes]]:
    """`count` copies of a model partition image, each with its model bytes mutated and both CRCs recomputed (what
    the header check cannot catch, so only the flatbuffer Verifier and the firmware's own bounds stand between such
    a model and a crash): a few bytes flipped, a 32-bit word overwritten with an edge value (offsets, counts and
    indices in a flatbuffer are such words), or a span zeroed. -> [(what was done, image)]"""
    import struct
    import zlib

    from kwtui.core.device.model_image import parse_model_image

    parsed = parse_model_image(image)
    start, size = parsed.header_size, len(parsed.model)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        data = bytearray(image)
        kind = ("flip", "word", "zero")[int(rng.integers(3))]
        if kind == "flip":
            at = sorted(int(i) for i in rng.integers(0, size, int(rng.integers(1, 9))))
            for i in at:
                data[start + i] ^= int(rng.integers(1, 256))
            what = f"flipped bytes {at}"
        elif kind == "word":
            at = int(rng.integers(0, size // 4)) * 4
            value = (
                _INTERESTING_WORDS[int(rng.integers(len(_INTERESTING_WORDS)))]
                if rng.random() < 0.7
                else int(rng.integers(0, 1 << 32))
            )
            struct.pack_into("<I", data, start + at, value)
            what = f"word at {at} = {value:#x}"
        else:
            at, length = int(rng.integers(0, size)), int(rng.integers(1, 65))
            data[start + at : start + min(size, at + length)] = bytes(min(size, at + length) - at)
            what = f"zeroed {length} bytes at {at}"
        struct.pack_into("<I", data, 12, zlib.crc32(bytes(data[start : start + size])))  # model_crc32
        struct.pack_into("<I", data, 60, 0)
        struct.pack_into("<I", data, 60, zlib.crc32(bytes(data[:start])))  # header_crc32, this field as zero
        out.append((what, bytes(data)))
    return out
