"""A folder handed to kwtui may hold the user's files: kwtui refuses it (exit 2) and changes nothing there.

Decoys are names an old clean-up pattern would have matched (`.env.tmpl`, `.x.tmp`, `docs/.report.tmp.docx`,
`.git/.COMMIT_EDITMSG.tmp`...). Every command that takes a folder runs against them through the real CLI;
the tree is hashed before and after.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import tomli_w

from kwtui.core.io import locks, ownership, writer
from tests.helpers.corpus import kwtui
from tests.helpers.model import make_tone_store

DECOYS = {
    ".env.tmpl": "SECRET=1\n",
    ".x.tmp": "scratch\n",
    ".session.tmp": "s\n",
    ".bashrc.tmpl": "alias ll='ls -l'\n",
    "docs/.report.tmp.docx": "report\n",
    "project/.git/.COMMIT_EDITMSG.tmp": "wip\n",
    "notes.txt": "mine\n",
}


def make_decoys(folder: Path) -> Path:
    for rel, text in DECOYS.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


def tree_hash(folder: Path) -> dict[str, str]:
    result = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root, name)
            rel = str(path.relative_to(folder))
            result[rel] = hashlib.sha1(path.read_bytes()).hexdigest() if path.is_file() else "dir"
    return result


@pytest.fixture
def tone_preset_file(tmp_path: Path) -> Path:
    preset = make_tone_store(tmp_path / "run")
    path = tmp_path / "tones.toml"
    path.write_text(tomli_w.dumps(preset.to_dict()))
    return path


@pytest.mark.parametrize(
    "command",
    [
        ["features", "{preset}", "--set", "features.output={decoy}"],
        ["train", "{preset}", "--set", "run_dir={decoy}"],
        ["evaluate", "{preset}", "--set", "run_dir={decoy}"],
        ["convert", "{preset}", "--set", "run_dir={decoy}"],
        ["run", "{preset}", "--set", "run_dir={decoy}"],
        ["demo-data", "{decoy}"],
    ],
)
def test_a_folder_with_user_files_is_refused_and_untouched(tmp_path, tone_preset_file, command):
    decoy = make_decoys(tmp_path / "decoy")
    before = tree_hash(decoy)
    args = [part.format(preset=tone_preset_file, decoy=decoy) for part in command]
    result = kwtui(*args, timeout=120)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "did not create" in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    assert tree_hash(decoy) == before


def test_stale_temp_clean_up_removes_only_kwtui_temps_of_dead_processes(tmp_path):
    folder = ownership.claim(tmp_path / "owned", "run_dir")
    make_decoys(folder)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    (folder / f".kwtui-tmp-{dead}-0123abcd-model.cc").write_text("half")
    mine = folder / f".kwtui-tmp-{os.getpid()}-0123abcd-model.h"
    mine.write_text("in progress")
    before = tree_hash(folder)
    assert writer.remove_stale_temps(folder, recursive=True) == 1
    after = tree_hash(folder)
    assert set(before) - set(after) == {f".kwtui-tmp-{dead}-0123abcd-model.cc"}
    assert mine.exists()


def test_a_temp_whose_pid_was_reused_by_a_later_process_is_removed(tmp_path):
    """pid_max is 32768 in many containers: a killed writer's pid can belong to a live, newer process by the
    time the next run sweeps (this left a temp behind in CI). A temp written before its pid's process started
    is stale; one written since is left alone."""
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as newer:
        try:
            started = psutil.Process(newer.pid).create_time()
            stale = tmp_path / f".kwtui-tmp-{newer.pid}-0123abcd-clip.npy.part"
            stale.write_text("left by a killed writer")
            os.utime(stale, (started - 600, started - 600))
            live = tmp_path / f".kwtui-tmp-{newer.pid}-4567cdef-other.npy.part"
            live.write_text("being written")
            assert writer.remove_stale_temps(tmp_path) == 1
            assert not stale.exists() and live.exists()
        finally:
            newer.kill()


def test_a_temp_whose_writer_is_a_zombie_is_removed(tmp_path):
    """A killed parent's worker is reparented; in a container without an init nobody reaps it, so its pid stays
    taken by a zombie (this left a temp behind in CI). A zombie writes nothing: its temp is stale."""
    exited = subprocess.Popen([sys.executable, "-c", "pass"])  # not waited for: a zombie until reaped
    try:
        deadline = time.monotonic() + 30
        while psutil.Process(exited.pid).status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        stale = tmp_path / f".kwtui-tmp-{exited.pid}-0123abcd-clip.npy.part"
        stale.write_text("left by a killed worker")
        assert writer.remove_stale_temps(tmp_path) == 1
        assert not stale.exists()
    finally:
        exited.wait()


def test_temp_names_fit_255_bytes_for_the_longest_legal_name(tmp_path):
    name = "w" * 251 + ".npy"
    writer.write_bytes(tmp_path / name, b"x" * 10)
    assert (tmp_path / name).read_bytes() == b"x" * 10
    assert os.listdir(tmp_path) == [name]
    for keep in (False, True):
        temp = writer.temp_name(name, keep_suffix=keep)
        assert len(os.fsencode(temp)) <= 255 and writer.is_temp_name(temp)
        assert temp.endswith(".npy") == keep  # a glob for *.npy never sees a temp


def test_a_second_writer_is_refused_at_once_naming_the_first(tmp_path, tone_preset_file):
    run_dir = tmp_path / "run"
    with locks.exclusive(run_dir, "train"):
        result = kwtui("train", tone_preset_file, timeout=120)
    assert result.returncode == 2
    assert "in use by kwtui train (pid" in result.stderr


def test_full_disk_mid_unit_leaves_no_temp_and_the_old_set(tmp_path):
    folder = ownership.claim(tmp_path / "unit", "run_dir")
    writer.write_files({folder / "a.bin": b"old-a", folder / "b.bin": b"old-b"})

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with writer.unit(folder) as unit:
            unit.add(folder / "a.bin", b"new-a")
            raise Boom
    assert (folder / "a.bin").read_bytes() == b"old-a"
    assert not [n for n in os.listdir(folder) if writer.is_temp_name(n)]


KILL_SCRIPT = """
import sys
import time
from pathlib import Path
from kwtui.core.io import writer
folder = Path(sys.argv[1])
writer.remove_stale_temps(folder)
writer.write_files({folder / "model.tflite": b"new-tflite", folder / "model.cc": b"new-cc",
                    folder / "model.h": b"new-h", folder / "model.json": b"new-json"})
"""


RECOVER = "import sys; from pathlib import Path; from kwtui.core.io import writer; writer.remove_stale_temps(Path(sys.argv[1]))"


def test_a_unit_killed_at_every_commit_point_is_old_or_new_never_a_mix(tmp_path):
    names = ("model.tflite", "model.cc", "model.h", "model.json")
    old = {n: b"old" for n in names}
    new = {n: b"new-" + n.split(".")[1].encode() for n in names}
    outcomes = set()
    for kill_at in range(1, 7):  # the journal commit, then each of the four renames, then past the end
        folder = ownership.claim(tmp_path / f"k{kill_at}", "run_dir")
        for name in names:
            (folder / name).write_bytes(b"old")
        env = {**os.environ, "KWTUI_TEST_KILL_AT_COMMIT": str(kill_at)}
        subprocess.run([sys.executable, "-c", KILL_SCRIPT, str(folder)], env=env)
        subprocess.run([sys.executable, "-c", RECOVER, str(folder)], check=True)  # what the next run does first
        contents = {n: (folder / n).read_bytes() for n in names}
        assert contents in (old, new), (kill_at, contents)
        outcomes.add("old" if contents == old else "new")
        assert not [n for n in os.listdir(folder) if writer.is_temp_name(n) or n == writer.JOURNAL_NAME]
    assert outcomes == {"old", "new"}  # the kills did land before and after the commit


def test_a_keyword_folder_named_like_a_manifest_is_refused_and_leaves_nothing(tmp_path):
    from tests.tui.scripted import write_tiny_dataset

    dataset = write_tiny_dataset(tmp_path / "data")
    (dataset / "left").rename(dataset / "train.csv")
    preset = tmp_path / "p.toml"
    preset.write_text(
        tomli_w.dumps(
            {
                "name": "clash",
                "run_dir": str(tmp_path / "run"),
                "dataset": {"path": str(dataset)},
                "classes": {"keywords": ["yes", "train.csv"]},
            }
        )
    )
    result = kwtui("features", preset, timeout=120)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "train.csv" in errors[0] and "rename the folder" in errors[0], result.stderr
    leftovers = [p for p in (tmp_path / "run").rglob("*") if writer.is_temp_name(p.name) or ".tmp" in p.name]
    assert leftovers == []
