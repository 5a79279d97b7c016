"""Readers and writers of one folder: no writer pulls files from under a running stage, a refused run writes
nothing, and the refusal comes before TensorFlow loads.

The "other kwtui" is this test process holding the lock as a stage does (kwtui's own lock API); the refused one
is the real CLI in a child process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import tomli_w

from kwtui.core.io import locks, ownership
from kwtui.core.io.layout import RunLayout
from kwtui.core.preset import from_dict
from tests.helpers.corpus import kwtui
from tests.helpers.model import make_tone_store
from tests.tui.scripted import write_tiny_dataset


@pytest.fixture
def tone_run(tmp_path: Path):
    preset = make_tone_store(tmp_path / "run")
    path = tmp_path / "tones.toml"
    path.write_text(tomli_w.dumps(preset.to_dict()))
    return preset, path


def _tree(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file() and p.name != locks.LOCK_NAME
    }


def test_features_are_not_regenerated_under_a_stage_reading_them(tmp_path):
    """`kwtui train X &` then `kwtui run X --set features.seed=7`: the second would regenerate (delete) the
    features the first is reading. It is refused at once, and the features are untouched."""
    dataset = write_tiny_dataset(tmp_path / "data")
    preset = from_dict(
        {
            "name": "lk",
            "run_dir": str(tmp_path / "run"),
            "dataset": {"path": str(dataset)},
            "classes": {"keywords": ["yes", "no"]},
            "features": {"variants": 0, "workers": 1},
        }
    )
    path = tmp_path / "lk.toml"
    path.write_text(tomli_w.dumps(preset.to_dict()))
    assert kwtui("features", path, timeout=300).returncode == 0
    features = RunLayout(preset).features_dir
    before = _tree(features)
    with locks.shared(features, "train"):
        result = kwtui("features", path, "--set", "features.seed=7", timeout=120)
    assert result.returncode == 2, result.stderr
    assert "in use by a kwtui stage reading it" in result.stderr.strip().splitlines()[-1]
    assert _tree(features) == before


def test_two_readers_share_the_features_and_a_writer_is_refused_by_either(tmp_path):
    folder = ownership.claim(tmp_path / "features", "features.output")
    script = (
        "import sys, time; from kwtui.core.io import locks\n"
        "with locks.shared(sys.argv[1], 'evaluate'):\n    print('held', flush=True); time.sleep(30)\n"
    )
    with subprocess.Popen([sys.executable, "-c", script, str(folder)], stdout=subprocess.PIPE, text=True) as other:
        try:
            assert other.stdout.readline().strip() == "held"
            with locks.shared(folder, "train"):  # a second reader: allowed
                pass
            with pytest.raises(Exception, match="in use by a kwtui stage reading it"):
                with locks.exclusive(folder, "features"):
                    pass
        finally:
            other.kill()
    with locks.exclusive(folder, "features"):  # the reader ended (killed): the writer may go
        with locks.exclusive(folder, "features"), locks.shared(folder, "train"):  # re-entrant in one process
            pass


def test_a_refused_run_leaves_the_running_ones_record_alone(tone_run):
    """While one `kwtui run` trains, a second with other settings is refused, and the run folder's preset.toml
    (the preset as run, what a replay uses) still holds the first one's settings."""
    preset, path = tone_run
    layout = RunLayout(preset)
    layout.preset_copy.write_text(tomli_w.dumps(preset.to_dict()))
    before = layout.preset_copy.read_bytes()
    with locks.exclusive(layout.run_dir, "run"):
        result = kwtui(
            "run", path, "--from", "train", "--set", "train.epochs=9", "--set", "train.learning_rate=0.5", timeout=120
        )
    assert result.returncode == 2, result.stderr
    assert f"in use by kwtui run (pid {os.getpid()})" in result.stderr.strip().splitlines()[-1]
    assert layout.preset_copy.read_bytes() == before


@pytest.mark.parametrize("command", ["train", "convert", "run"])
def test_a_second_writer_is_refused_before_tensorflow_loads(tone_run, tmp_path, command):
    """The refusal must not wait for TensorFlow's import (~17 s on a loaded laptop): a `tensorflow` that records
    its import stands first on the path, and is never imported."""
    preset, path = tone_run
    fake = tmp_path / "fake"
    (fake / "tensorflow").mkdir(parents=True)
    marker = tmp_path / "tensorflow-imported"
    (fake / "tensorflow" / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\nraise ImportError\n")
    with locks.exclusive(RunLayout(preset).run_dir, "train"):
        result = kwtui(command, path, env={"PYTHONPATH": str(fake)}, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "in use by kwtui train" in result.stderr
    assert not marker.exists(), "TensorFlow was imported before the lock was tried"


def test_a_child_dies_with_the_stage_that_started_it(tmp_path):
    """evaluate's float-model child writes into the run folder: SIGKILL of the stage must end it too (it wrote
    model_float.tflite 4.5 s later, without the lock)."""
    script = (
        "import subprocess, sys; from kwtui.core.native import dies_with_parent\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'],"
        " preexec_fn=dies_with_parent())\n"
        "print(child.pid, flush=True); child.wait()\n"
    )
    with subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) as stage:
        child = int(stage.stdout.readline())
        assert psutil.pid_exists(child)
        stage.send_signal(signal.SIGKILL)
        stage.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if psutil.Process(child).status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the child outlived the killed stage")


def test_flash_reads_the_run_folder_under_a_shared_lock(trained_run, tmp_path):
    """A flash (minutes at the board) holds the run folder shared: a convert or train cannot replace the model
    it writes, a second flash of another board from the same run may go, and a read-only run folder is one line,
    exit 2, for flash and for `kwtui run` — each was an internal error writing into it."""
    import shutil

    from tests.helpers.corpus import no_dac_prefix

    run = tmp_path / "run"
    shutil.copytree(trained_run.run_path, run)
    data = trained_run.to_dict()
    data.update(run_dir=str(run))
    path = tmp_path / "tones.toml"
    path.write_text(tomli_w.dumps(data))
    with locks.exclusive(run, "train"):
        refused = kwtui("flash", path, "--dry-run", timeout=180)
    assert refused.returncode == 2 and "in use by kwtui train" in refused.stderr.strip().splitlines()[-1]
    with locks.shared(run, "flash"):  # another board being flashed from this run
        second = kwtui("flash", path, "--dry-run", timeout=180)
        writer = kwtui("convert", path, timeout=180)
    assert second.returncode == 0, second.stderr[-1500:]
    assert writer.returncode == 2 and "in use by a kwtui stage reading it" in writer.stderr.strip().splitlines()[-1]
    for folder in (run, *[p for p in run.rglob("*") if p.is_dir()]):
        folder.chmod(0o555)
    try:
        read_only = kwtui("flash", path, "--dry-run", timeout=180, prefix=no_dac_prefix())
        run_refused = kwtui("run", path, "--from", "train", timeout=180, prefix=no_dac_prefix())
    finally:
        for folder in (run, *[p for p in run.rglob("*") if p.is_dir()]):
            folder.chmod(0o755)
    lines = [line for line in read_only.stderr.splitlines() if line.startswith("error:")]
    assert read_only.returncode == 2 and len(lines) == 1 and "Traceback" not in read_only.stderr, read_only.stderr
    assert f"{run}: cannot write model_partition.bin there (Permission denied)" in lines[0]
    # `kwtui run` saves the preset as run first: that too is one line, exit 2 (an internal error before)
    lines = [line for line in run_refused.stderr.splitlines() if line.startswith("error:")]
    assert run_refused.returncode == 2 and len(lines) == 1 and "Traceback" not in run_refused.stderr, run_refused.stderr
    assert f"{run}: cannot write preset.toml there (Permission denied)" in lines[0], lines[0]


def test_the_wizard_is_refused_while_another_kwtui_writes_the_run_folder(tone_run, tmp_path, monkeypatch):
    """The wizard's Start writes the preset as run (what its headless line replays) only under the run folder's
    lock: while a `kwtui run` holds it, Train is refused with the holder named, nothing starts, and the record of
    the running one stays as it was."""
    import asyncio

    from kwtui.tui.app import create_app
    from tests.tui.pilot_utils import wait_until

    preset, _ = tone_run
    monkeypatch.chdir(tmp_path)
    layout = RunLayout(preset)
    layout.preset_copy.write_text(tomli_w.dumps(preset.to_dict()))
    before = layout.preset_copy.read_bytes()
    started: list[str] = []
    script = (
        "import sys, time; from kwtui.core.io import locks\n"
        "with locks.exclusive(sys.argv[1], 'run'):\n    print('held', flush=True); time.sleep(60)\n"
    )

    async def scenario() -> None:
        app = create_app(
            preset,
            stage_runner=lambda stage, *a, **k: started.append(stage),
            presets_dir=tmp_path,
            port_lister=lambda: [],
        )
        async with app.run_test(size=(120, 40)) as pilot:
            app.go_to(3)
            await pilot.pause()
            app.query_one("#epochs").value = "9"
            await pilot.pause()
            await pilot.press("ctrl+r")
            await wait_until(pilot, lambda: app._notifications, 10, "a notification")
            shown = " ".join(str(n.message) for n in app._notifications)
            assert "in use by kwtui run" in shown, shown
            assert not app.running_workers()

    with subprocess.Popen(
        [sys.executable, "-c", script, str(layout.run_dir)], stdout=subprocess.PIPE, text=True
    ) as other:
        try:
            assert other.stdout is not None and other.stdout.readline().strip() == "held"
            asyncio.run(scenario())
        finally:
            other.kill()
    assert started == []
    assert layout.preset_copy.read_bytes() == before
