"""Where the firmware's pinned sources come from: the shared folder's archives, unpacked whole or not at all, and
no path of a development machine anywhere in the project."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.helpers import firmware_runtime

ROOT = Path(__file__).resolve().parents[2]


def _archive(folder: Path, stem: str, files: dict[str, str]) -> None:
    with tarfile.open(folder / f"{stem}.tar.gz", "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{stem}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    archives = tmp_path / "archives"
    archives.mkdir()
    monkeypatch.setenv("KWT_FIRMWARE_SOURCES", str(archives))
    monkeypatch.setattr(firmware_runtime, "CACHE", tmp_path / "cache")
    for name in ("KWT_ESP_TFLITE_MICRO_DIR", "KWT_ESP_NN_DIR", "KWT_ESP_IDF_DIR", "KWT_MICRO_FEATURES_DIR"):
        monkeypatch.delenv(name, raising=False)
    return archives


def test_sources_come_from_the_archives_and_are_unpacked_once(sandbox):
    versions = firmware_runtime.pinned_versions()
    _archive(sandbox, f"esp-tflite-micro-{versions['esp-tflite-micro']}", {"tensorflow/x.h": "tflm"})
    _archive(sandbox, f"esp-nn-{versions['esp-nn']}", {"include/esp_nn.h": "nn"})
    tflm, nn = firmware_runtime.sources()
    assert (tflm / "tensorflow/x.h").read_text() == "tflm" and (nn / "include/esp_nn.h").read_text() == "nn"
    (sandbox / f"esp-nn-{versions['esp-nn']}.tar.gz").unlink()  # the unpacked tree is reused
    assert firmware_runtime.sources() == (tflm, nn)


def test_a_half_unpacked_tree_is_never_used(sandbox):
    stem = f"ESPMicroSpeechFeatures-{firmware_runtime.MICRO_FEATURES_VERSION}"
    half = firmware_runtime.CACHE / "sources" / stem
    half.mkdir(parents=True)
    (half / "partial.h").write_text("cut short")  # no .complete: a kill while unpacking
    assert isinstance(firmware_runtime.micro_features_source(), str)
    _archive(sandbox, stem, {"frontend.h": "whole"})
    tree = firmware_runtime.micro_features_source()
    assert (tree / "frontend.h").read_text() == "whole" and not (tree / "partial.h").exists()


def test_without_sources_the_reason_names_where_it_looked(sandbox):
    reason = firmware_runtime.sources()
    assert isinstance(reason, str) and str(sandbox) in reason and "KWT_FIRMWARE_SOURCES" in reason


def test_no_path_of_a_development_machine_in_the_project():
    """Code, scripts and docs look for nothing at a path of the machine they were written on. The README's
    screenshots are pictures of a real run's screen (the esptool command names the interpreter) and are left out."""
    tracked = subprocess.run(
        [
            "git",
            "-C",
            str(ROOT),
            "grep",
            "-l",
            "-e",
            "/work/",
            "-e",
            "\\.mirror",
            "--",
            ".",
            ":!tests/firmware/test_pinned_sources.py",
            ":!docs/screenshots",
        ],
        capture_output=True,
        text=True,
    )
    assert tracked.stdout == "", tracked.stdout
