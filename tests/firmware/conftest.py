"""Fixtures for the firmware tests: the host build of firmware/ (once per session) and espeak-ng speech."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from kwtui.core.data.audio import load_clip
from kwtui.core.events import CancelToken, ignore
from tests.helpers.model import make_tone_store

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"
HOST_TOOLS = ("features_host", "postprocess_host", "model_image_host")
COMMANDS = ["yes", "no", "left", "right"]


@pytest.fixture(scope="session")
def host_tools(tmp_path_factory) -> dict[str, Path]:
    """Build firmware/host with cmake + make (g++) into a temporary folder; paths of the tools."""
    for tool in ("cmake", "make", "g++"):
        assert shutil.which(tool), f"{tool} is needed for the firmware host build (scripts/setup.sh installs it)"
    build = tmp_path_factory.mktemp("firmware-host-build")
    subprocess.run(
        ["cmake", "-S", str(FIRMWARE / "host"), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release"],
        check=True,
        capture_output=True,
        text=True,
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


@pytest.fixture
def converted_run(tmp_path):
    """A preset whose run folder holds a converted model (model.tflite + model.json); returns a factory."""
    from tests.helpers.records import converted_run_factory

    return converted_run_factory(tmp_path)


def build_host(source_dir: Path, build_dir: Path, *cmake_args: str, targets: tuple[str, ...] = ()) -> None:
    subprocess.run(
        ["cmake", "-S", str(source_dir), "-B", str(build_dir), "-DCMAKE_BUILD_TYPE=Release", *cmake_args],
        check=True,
        capture_output=True,
        text=True,
    )
    done = subprocess.run(["make", "-C", str(build_dir), "-j2", *targets], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


@pytest.fixture(scope="session")
def commands_run(tmp_path_factory):
    """Four command words + _unknown + _background (tones), trained, evaluated and converted on the default path;
    shared by the streaming-default and detect tests."""
    from kwtui.core.stages.convert import run_convert
    from kwtui.core.stages.evaluate import run_evaluate
    from kwtui.core.stages.train import run_train

    preset = make_tone_store(
        tmp_path_factory.mktemp("stream") / "run",
        COMMANDS,
        per_class=(30, 8, 10),
        features={"frontend": "micro"},
        train={"model": "stream", "epochs": 6, "learning_rate": 0.01},
        evaluate={"hop_ms": 30.0, "target_fa_per_hour": 50.0},
    )
    for runner in (run_train, run_evaluate, run_convert):
        runner(preset, ignore, CancelToken())
    return preset
