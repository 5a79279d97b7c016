"""A non-editable install works from any folder: presets, partitions.csv and the wizard's stylesheet ship as
package data and are found through importlib.resources (not through the source tree).

The wheel is built from this checkout and installed into a fresh virtualenv. Its dependencies (TensorFlow & co.)
are not downloaded again: a .pth file lends it the test venv's site-packages, where kwtui itself is only an
editable install that a plain path entry does not activate. The fresh venv's own `kwtui` command then runs from
an unrelated folder, and the test checks that the installed copy, not the checkout, answered.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(dist), str(REPO)],
        check=True,
        capture_output=True,
    )
    wheel = next(dist.glob("kwtui-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for needed in (
        "kwtui/resources/presets/commands.toml",
        "kwtui/resources/presets/marvin.toml",
        "kwtui/resources/partitions.csv",
        "kwtui/tui/kwtui.tcss",
    ):
        assert needed in names, needed
    venv = tmp_path_factory.mktemp("fresh-venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next(venv.glob("lib/python*/site-packages"))
    deps = next(p for p in map(Path, sys.path) if p.name == "site-packages" and (p / "numpy").is_dir())
    (site / "test-deps.pth").write_text(f"{deps}\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "-q",
            "--no-deps",
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    return venv


def _kwtui(venv: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(NO_COLOR="1", PYTHONWARNINGS="ignore")
    probe = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import kwtui; print(kwtui.__file__)"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )
    done = subprocess.run(
        [str(venv / "bin" / "kwtui"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    done.stderr = f"from {probe.stdout.strip()}\n" + done.stderr
    return done


def test_installed_wheel_finds_its_presets_from_any_folder(installed: Path, tmp_path: Path):
    listed = _kwtui(installed, tmp_path, "presets", "list")
    assert listed.returncode == 0, listed.stderr
    assert f"from {installed}" in listed.stderr and str(REPO) not in listed.stderr.splitlines()[0]
    assert "commands" in listed.stdout and "marvin" in listed.stdout
    shown = _kwtui(installed, tmp_path, "presets", "show", "commands")
    assert shown.returncode == 0 and "keywords = [" in shown.stdout, shown.stderr


def test_installed_wheel_runs_a_shipped_preset_and_knows_the_partition_table(installed: Path, tmp_path: Path):
    run = _kwtui(installed, tmp_path, "run", "commands")
    assert run.returncode == 2, run.stderr  # found the preset; the demo dataset is not in this folder
    assert "data/demo" in run.stderr and "dataset folder not found" in run.stderr
    table = next(installed.glob("lib/python*/site-packages/kwtui/resources/partitions.csv"))
    assert table.is_file() and "model" in table.read_text()
    flash = _kwtui(installed, tmp_path, "flash", "commands", "--dry-run")
    assert flash.returncode == 2 and "no converted model" in flash.stderr, flash.stderr
