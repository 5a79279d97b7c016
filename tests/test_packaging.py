"""A non-editable install works from any folder: presets, partitions.csv and the wizard's stylesheet ship as
package data and are found through importlib.resources (not through the source tree).

The wheel is built from this checkout and installed (without its dependencies, which the test venv already
has) into a separate folder; kwtui then runs from an unrelated working directory with that folder first on
sys.path, and the test checks that the installed copy, not the checkout, answered.
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
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(dist),
                    str(REPO)], check=True, capture_output=True)
    wheel = next(dist.glob("kwtui-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for needed in ("kwtui/resources/presets/commands.toml", "kwtui/resources/presets/marvin.toml",
                   "kwtui/resources/partitions.csv", "kwtui/tui/kwtui.tcss"):
        assert needed in names, needed
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    return target


def _kwtui(target: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(target), "NO_COLOR": "1"}
    code = "import sys, kwtui; print('from', kwtui.__file__, file=sys.stderr); from kwtui.cli.main import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)


def test_installed_wheel_finds_its_presets_from_any_folder(installed: Path, tmp_path: Path):
    listed = _kwtui(installed, tmp_path, "presets", "list")
    assert listed.returncode == 0, listed.stderr
    assert f"from {installed}" in listed.stderr  # the installed copy, not the checkout
    assert "commands" in listed.stdout and "marvin" in listed.stdout
    shown = _kwtui(installed, tmp_path, "presets", "show", "commands")
    assert shown.returncode == 0 and 'keywords = [' in shown.stdout, shown.stderr


def test_installed_wheel_runs_a_shipped_preset_and_knows_the_partition_table(installed: Path, tmp_path: Path):
    run = _kwtui(installed, tmp_path, "run", "commands")
    assert run.returncode == 2, run.stderr  # found the preset; the demo dataset is not in this folder
    assert "data/demo" in run.stderr and "dataset folder not found" in run.stderr
    table = installed / "kwtui" / "resources" / "partitions.csv"
    assert table.is_file() and "model" in table.read_text()
    flash = _kwtui(installed, tmp_path, "flash", "commands", "--dry-run")
    assert flash.returncode == 2 and "no converted model" in flash.stderr, flash.stderr
