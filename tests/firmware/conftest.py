"""Fixtures for the firmware tests: the host build of firmware/ (once per session) and espeak-ng speech."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from kwtui.core.data.audio import load_clip

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"
HOST_TOOLS = ("features_host", "postprocess_host", "model_image_host")


@pytest.fixture(scope="session")
def host_tools(tmp_path_factory) -> dict[str, Path]:
    """Build firmware/host with cmake + make (g++) into a temporary folder; paths of the tools."""
    for tool in ("cmake", "make", "g++"):
        assert shutil.which(tool), f"{tool} is needed for the firmware host build (scripts/setup.sh installs it)"
    build = tmp_path_factory.mktemp("firmware-host-build")
    subprocess.run(
        ["cmake", "-S", str(FIRMWARE / "host"), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release"],
        check=True, capture_output=True, text=True,
    )
    done = subprocess.run(["make", "-C", str(build), "-j2"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return {tool: build / tool for tool in HOST_TOOLS}


SPOKEN = [("marvin", "en", 160), ("seven", "en-us", 120), ("left", "en+f3", 200), ("house", "en-gb", 140)]


@pytest.fixture(scope="session")
def spoken_clips(tmp_path_factory) -> dict[str, np.ndarray]:
    """A few 1 s clips spoken by espeak-ng (22.05 kHz), loaded and resampled like the real pipeline."""
    assert shutil.which("espeak-ng"), "espeak-ng is needed (scripts/setup.sh installs it)"
    folder = tmp_path_factory.mktemp("spoken")
    clips = {}
    for word, voice, speed in SPOKEN:
        wav = folder / f"{word}.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(wav), word], check=True)
        clips[word] = load_clip(wav).samples
    return clips


def converted_meta(labels: list[str], num_keywords: int, model_bytes: int, **overrides) -> dict:
    """model.json as `kwtui convert` writes it (the fields the flash stage reads, plus a few others)."""
    meta = {
        "preset": "fw", "quantization": "int8", "model_bytes": model_bytes, "arena_bytes": 24_576,
        "arena_min_bytes": 24_064, "arena_margin_bytes": 512, "ops": ["CONV_2D", "FULLY_CONNECTED", "SOFTMAX"],
        "labels": labels, "num_keywords": num_keywords, "sigmoid_output": False, "input_dtype": "int8",
        "input_scale": 0.0321, "input_zero_point": 59, "output_dtype": "int8", "output_scale": 0.00390625,
        "output_zero_point": -128, "feature_frames": 99, "feature_bins": 43, "average_window": 3,
        "threshold": 0.9, "refractory_ms": 1000, "hop_ms": 100,
    }
    meta.update(overrides)
    return meta


@pytest.fixture
def converted_run(tmp_path):
    """A preset whose run folder holds a converted model (model.tflite + model.json); returns a factory."""
    import json

    from kwtui.core.preset import from_dict

    def make(model_bytes: int = 60_000, flash: dict | None = None, write_model: bool = True):
        from kwtui.core.io.layout import RunLayout
        from tests.helpers.records import model_record_fields, write_fresh_records

        run_dir = tmp_path / "runs" / "fw"
        labels = ["marvin", "_unknown", "_background"]
        data = {"name": "fw", "run_dir": str(run_dir), "classes": {"keywords": ["marvin"]}, "flash": flash or {}}
        preset = from_dict(data)
        layout = RunLayout(preset)
        write_fresh_records(layout)
        if write_model:
            rng = np.random.default_rng(1)
            tflite = b"\x1c\x00\x00\x00TFL3" + rng.integers(0, 256, model_bytes - 8, dtype=np.uint8).tobytes()
            (run_dir / "model.tflite").write_bytes(tflite)
            meta = {**converted_meta(labels, 1, model_bytes), **model_record_fields(layout)}
            (run_dir / "model.json").write_text(json.dumps(meta))
        return preset

    return make


def build_host(source_dir: Path, build_dir: Path, *cmake_args: str, targets: tuple[str, ...] = ()) -> None:
    subprocess.run(["cmake", "-S", str(source_dir), "-B", str(build_dir), "-DCMAKE_BUILD_TYPE=Release", *cmake_args],
                   check=True, capture_output=True, text=True)
    done = subprocess.run(["make", "-C", str(build_dir), "-j2", *targets], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
