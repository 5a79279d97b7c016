"""Low resources: feature generation in 512 MB, and a disk that fills up while training.

Memory cap, and why this one: the cap must hold the whole process tree (kwtui, the forkserver and
the pool workers), as RAM on a small laptop does. A cgroup memory limit does exactly that: cgroup v2
`memory.max`, or v1 `memory.limit_in_bytes` (this CI machine has a writable v1 memory hierarchy).
`prlimit --as=512M` is not a RAM cap: it limits *virtual* address space per process, and glibc
reserves 64 MB of address space per thread arena plus 8 MB stacks, so the scan's header-reading
threads fail to start under it ("can't start new thread") long before 512 MB of RAM is used.
Without a writable cgroup the test falls back to `RLIMIT_DATA` (per process; counts heap and
private writable mappings, not reservations), which does measure what numpy allocates.

The dataset: 8,000 clips of 10 s at 16 kHz (hard links to 6 espeak-based files, so it costs no
disk), i.e. 5.1 GB of float32 audio arrays: 10x the cap. Page cache counts against a cgroup but is
reclaimed under the limit; what must stay small is the resident memory, and nothing may be OOM-killed.

Disk-full: the features stage's preflight and mid-run ENOSPC are tested in tests/data; here the
training stage's checkpoints fill a small tmpfs mid-run.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from kwtui.core.data.micro_frontend import SHAPE as FEATURE_SHAPE  # the default frontend's
from kwtui.core.preset import save_preset
from tests.helpers.corpus import REPO, clip_name, kwtui, kwtui_command, noise, speech_clip, write_preset, write_wav
from tests.helpers.disk import mounted_tmpfs
from tests.helpers.model import make_tone_store
from tests.reliability.procs import temp_files

CAP = 512 * 2**20
CLIP_SECONDS = 10.0
CLIPS_PER_WORD = 4300

PRESET = """name = "lowmem"
run_dir = "{run_dir}"
[dataset]
path = "{dataset}"
[classes]
keywords = ["yes", "no"]
unknown = false
background = false
[features]
workers = 2
variants = 0
"""


def make_big_dataset(root: Path) -> Path:
    for word in ("yes", "no"):
        sources = []
        for v in range(3):
            pad = (CLIP_SECONDS - 1.0) / 2
            x = np.concatenate([noise(pad, v, volume=0.01), speech_clip(word, v), noise(pad, v + 10, volume=0.01)])
            sources.append(write_wav(root / word / clip_name(word, v), x))
        for i in range(3, CLIPS_PER_WORD):
            os.link(sources[i % 3], root / word / clip_name(word, i))
    return root


class MemoryCap:
    """A cgroup (v2 or v1) with a memory limit, or RLIMIT_DATA when no cgroup is writable."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.kind = ""
        self.path: Path | None = None
        name = f"kwtui-reliability-{os.getpid()}"
        v2 = Path("/sys/fs/cgroup")
        v1 = Path("/sys/fs/cgroup/memory")
        try:
            if (v2 / "cgroup.controllers").exists() and "memory" in (v2 / "cgroup.controllers").read_text():
                self.path = v2 / name
                self.path.mkdir()
                (self.path / "memory.max").write_text(str(limit))
                if (self.path / "memory.swap.max").exists():
                    (self.path / "memory.swap.max").write_text("0")
                self.kind = "cgroup v2 memory.max"
            elif (v1 / "memory.limit_in_bytes").exists():
                self.path = v1 / name
                self.path.mkdir()
                (self.path / "memory.limit_in_bytes").write_text(str(limit))
                self.kind = "cgroup v1 memory.limit_in_bytes"
        except OSError:
            self.close()
            self.path = None
        if self.path is None:
            self.kind = "RLIMIT_DATA"

    def preexec(self) -> None:
        """Runs in the child before exec: join the cgroup (children inherit it) or set the rlimit."""
        if self.path is not None:
            (self.path / "cgroup.procs").write_text(str(os.getpid()))
        else:
            import resource

            resource.setrlimit(resource.RLIMIT_DATA, (self.limit, self.limit))

    def oom_kills(self) -> int:
        if self.path is None:
            return 0
        for name in ("memory.events", "memory.oom_control"):
            path = self.path / name
            if path.exists():
                for line in path.read_text().splitlines():
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        return 0

    def close(self) -> None:
        if self.path is None:
            return
        deadline = time.monotonic() + 10
        while self.path.exists():
            try:
                self.path.rmdir()
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


@pytest.fixture
def memory_cap():
    cap = MemoryCap(CAP)
    yield cap
    cap.close()


@pytest.mark.slow
def test_features_in_512_mb_on_a_dataset_10x_larger(tmp_path, memory_cap):
    dataset = make_big_dataset(tmp_path / "big")
    info = sf.info(str(next((dataset / "yes").glob("*.wav"))))
    as_arrays = 2 * CLIPS_PER_WORD * info.frames * 4  # float32
    assert as_arrays >= 10 * CAP, as_arrays

    preset = write_preset(tmp_path / "lowmem.toml", PRESET.format(dataset=dataset, run_dir=tmp_path / "run"))
    env = {**os.environ, "NO_COLOR": "1"}
    result = subprocess.run(
        ["nice", "-n", "10", *kwtui_command(), "features", str(preset), "--json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        preexec_fn=memory_cap.preexec,
    )
    assert result.returncode == 0, f"{memory_cap.kind}: {result.stderr[-2000:]}"
    assert memory_cap.oom_kills() == 0
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    summary = [e for e in events if e["event"] == "finished"][-1]["summary"]
    assert summary["files_written"] == 2 * CLIPS_PER_WORD
    peak_tree_rss = max(e["rss_bytes"] for e in events if e["event"] == "resources")
    assert peak_tree_rss < CAP, peak_tree_rss
    print(
        f"\n{memory_cap.kind}: {as_arrays / 2**30:.1f} GiB of audio as arrays, cap {CAP / 2**20:.0f} MiB, "
        f"peak tree RSS {peak_tree_rss / 2**20:.0f} MiB, {summary['seconds']} s"
    )
    features_dir = tmp_path / "run" / "features"
    sizes = {p.stat().st_size for p in features_dir.rglob("*.npy")}
    assert sizes == {128 + FEATURE_SHAPE[0] * FEATURE_SHAPE[1] * 4}
    assert temp_files(features_dir) == []


@pytest.fixture
def small_tmpfs(tmp_path):
    yield from mounted_tmpfs(tmp_path / "small", "1100k")


def _valid_keras(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return archive.testzip() is None


def test_disk_full_while_training_keeps_the_best_model(tmp_path, small_tmpfs):
    """Run folder on a 1.1 MB tmpfs: epoch 1's checkpoints (~450 kB each) fit, a later save hits ENOSPC."""
    preset = make_tone_store(
        small_tmpfs / "run",
        per_class=(24, 8, 8),
        train={"epochs": 4},
        features={"output": str(tmp_path / "features")},
    )
    preset_file = save_preset(preset, tmp_path / "tones.toml")
    result = kwtui("train", preset_file, timeout=300)
    assert result.returncode == 1, result.stderr[-2000:]
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "disk full" in errors[0] and "--resume" in errors[0], errors[0]
    run = small_tmpfs / "run"
    assert _valid_keras(run / "model_best.keras"), "the best model was lost when the disk filled"
    assert temp_files(run) == [], temp_files(run)
    state = json.loads((run / "checkpoints" / "train_state.json").read_text())
    assert state["epochs_done"] >= 1


@pytest.mark.slow
def test_features_in_512_mb_with_an_hour_of_background_noise(tmp_path, memory_cap):
    dataset = tmp_path / "noisy"
    for word in ("yes", "no"):
        for i in range(6):
            write_wav(dataset / word / clip_name(word, i), speech_clip(word, i))
    rng = np.random.default_rng(0)
    (dataset / "_background_noise_").mkdir()
    with sf.SoundFile(str(dataset / "_background_noise_" / "kitchen_1h.wav"), "w", 16000, 1, "PCM_16") as out:
        for _ in range(60):
            out.write((0.1 * rng.standard_normal(16000 * 60)).astype(np.float32))
    text = PRESET.format(dataset=dataset, run_dir=tmp_path / "run").replace("background = false", "background = true")
    preset = write_preset(tmp_path / "noisy.toml", text + "background_stride_s = 10.0\n")
    result = subprocess.run(
        ["nice", "-n", "10", *kwtui_command(), "features", str(preset)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        preexec_fn=memory_cap.preexec,
    )
    assert result.returncode == 0, f"{memory_cap.kind}: {result.stderr[-1000:]}"
    assert memory_cap.oom_kills() == 0
    # the hour was converted once into the run folder and memory-mapped by both workers
    (cached,) = (tmp_path / "run" / "noise_cache").glob("kitchen_1h-*.f32")
    assert cached.stat().st_size == 3600 * 16000 * 4


def test_features_in_512_mb_with_long_and_lying_clips_in_keyword_folders(tmp_path, memory_cap):
    """A 10-minute 48 kHz stereo clip, a 1-hour 16 kHz clip and a header that claims 1 Hz, in keyword folders:
    the long ones are cropped to their loudest second from a block-by-block scan (never decoded whole) or
    skipped for being a recording, the lying one is skipped with its reason; the run fits 512 MB."""
    dataset = tmp_path / "long"
    for word in ("yes", "no"):
        for i in range(6):
            write_wav(dataset / word / clip_name(word, i), speech_clip(word, i))
    rng = np.random.default_rng(0)
    with sf.SoundFile(str(dataset / "yes" / "tenmin_nohash_0.wav"), "w", 48000, 2, "PCM_16") as out:
        for minute in range(10):
            block = 0.05 * rng.standard_normal((48000 * 60, 2)).astype(np.float32)
            if minute == 7:
                block[48000 * 30 : 48000 * 31] *= 12  # the loudest second, 7.5 min in
            out.write(block)
    with sf.SoundFile(str(dataset / "no" / "hour_nohash_0.wav"), "w", 16000, 1, "PCM_16") as out:
        for _ in range(60):
            out.write((0.05 * rng.standard_normal(16000 * 60)).astype(np.float32))
    lying = bytearray((dataset / "no" / clip_name("no", 0)).read_bytes())
    lying[24:28] = (1).to_bytes(4, "little")  # sample rate 1 Hz: 16000 "seconds" in a 32 KB file
    (dataset / "no" / "lying_nohash_0.wav").write_bytes(bytes(lying))
    preset = write_preset(tmp_path / "long.toml", PRESET.format(dataset=dataset, run_dir=tmp_path / "run"))
    result = subprocess.run(
        ["nice", "-n", "10", *kwtui_command(), "features", str(preset), "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        preexec_fn=memory_cap.preexec,
    )
    assert result.returncode == 0, f"{memory_cap.kind}: {result.stderr[-1000:]}"
    assert memory_cap.oom_kills() == 0
    info = json.loads((tmp_path / "run" / "features" / "features.json").read_text())
    skipped = {item["path"]: item["reason"] for item in info["skipped"]}
    assert "outside 4000-384000 Hz" in skipped["no/lying_nohash_0.wav"]
    assert "a recording, not a clip" in skipped["no/hour_nohash_0.wav"]
    assert (tmp_path / "run" / "features" / "yes" / "tenmin_nohash_0.npy").exists()


def test_run_refuses_before_any_work_when_the_disk_is_short(tmp_path, clean_dataset):
    """`kwtui run` on a disk that cannot hold the features: exit 2 naming sizes, nothing written, no training."""
    run_dir = tmp_path / "run"
    preset = write_preset(tmp_path / "short.toml", PRESET.format(dataset=clean_dataset, run_dir=run_dir))
    result = kwtui("run", preset, "--json", env={"KWTUI_FAKE_FREE_BYTES": "1000000"}, timeout=120)
    assert result.returncode == 2, result.stderr[-1000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "need about" in errors[0] and "MB free" in errors[0], result.stderr[-1000:]
    assert not list(run_dir.rglob("*.npy"))
    stages = {json.loads(line).get("stage") for line in result.stdout.splitlines() if line.startswith("{")}
    assert "train" not in stages
