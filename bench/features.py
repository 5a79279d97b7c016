"""Benchmark of the features stage. Run: .venv/bin/python bench/features.py [--quick]

Prints:
- clips/s with 1 worker and with all cores (and the ratio),
- peak RSS of the whole process tree (main + pool workers) at 1k, 4k and 16k clips, and the growth 1k -> 16k,
- throughput against a baseline that does what diy-alexa's notebook does: per-file TensorFlow eager ops
  (read, decode, resample, normalise, voice trim, roll, background noise mixed in, AudioSpectrogram,
  tf.nn.pool, log10), results appended to a Python list - on the same files.

Datasets: espeak-ng demo clips (22.05 kHz, so both sides resample), reused under new speaker names (hard links)
to make 1k/4k/16k-clip datasets in bench/out/ (gitignored).
"""

from __future__ import annotations

import argparse
import glob
import itertools
import json
import multiprocessing
import os
import random
import resource
import shutil
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kwtui.core.data.demo import make_demo_dataset  # noqa: E402
from kwtui.core.events import CancelToken  # noqa: E402
from kwtui.core.preset import from_dict  # noqa: E402
from kwtui.core.stages.features import run_features  # noqa: E402

OUT = REPO / "bench" / "out"
WORDS = ["yes", "no", "left", "right", "up", "down", "go", "stop"]


def source_clips(rate: int = 22050) -> tuple[list[Path], Path]:
    """Demo clips at espeak's 22.05 kHz, or resampled once to 16 kHz (the rate of real Speech Commands)."""
    src = OUT / "demo-src"
    if not (src / "README.txt").exists():
        shutil.rmtree(src, ignore_errors=True)
        make_demo_dataset(src, WORDS, per_word=60, seed=1)
    clips = sorted(p for p in src.glob("*/*.wav") if not p.parent.name.startswith("_"))
    if rate != 22050:
        import soundfile as sf

        from kwtui.core.data.audio import load_audio

        dst = OUT / f"demo-src-{rate}"
        if not (dst / ".complete").exists():
            for clip in clips:
                (dst / clip.parent.name).mkdir(parents=True, exist_ok=True)
                sf.write(dst / clip.parent.name / clip.name, load_audio(clip).samples, rate, subtype="PCM_16")
            (dst / ".complete").write_text("ok\n")
        clips = sorted(dst.glob("*/*.wav"))
    return clips, src / "_background_noise_"


def synth_dataset(n_clips: int, rate: int = 22050) -> Path:
    """n_clips files spread over WORDS, hard links to demo clips under fresh speaker names."""
    root = OUT / f"ds-{n_clips}-{rate}"
    if (root / ".complete").exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    clips, noise = source_clips(rate)
    clips = list(clips)
    random.Random(0).shuffle(clips)  # every word in every size
    shutil.copytree(noise, root / "_background_noise_")
    for i in range(n_clips):
        src = clips[i % len(clips)]
        word = src.parent.name
        (root / word).mkdir(parents=True, exist_ok=True)
        os.link(src, root / word / f"{i:08x}_nohash_0.wav")
    (root / ".complete").write_text("ok\n")
    return root


def speech_commands_tree(words: int = 35, per_word: int = 3000) -> Path:
    """The Speech Commands v0.02 shape (35 words, ~105k clips) as hard links, for the header-only scan."""
    root = OUT / f"sc-{words}x{per_word}"
    if (root / ".complete").exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    clips, noise = source_clips()
    shutil.copytree(noise, root / "_background_noise_")
    for w in range(words):
        folder = root / f"word{w:02d}"
        folder.mkdir(parents=True)
        for i in range(per_word):
            os.link(clips[(w * per_word + i) % len(clips)], folder / f"{w:02x}{i:06x}_nohash_0.wav")
    (root / ".complete").write_text("ok\n")
    return root


CLIP_SETS = {  # name -> what it stands for
    "sc16k": "Speech-Commands-like: 16 kHz mono, 90 % exactly 1 s, the rest 0.5-1 s",
    "user": "user recordings: 44.1 and 48 kHz, 0.5-2 s, a third stereo",
    "espeak": "espeak-ng natural lengths at 22.05 kHz (0.3-1 s)",
    "demo1s": "the demo's 1 s clips at 22.05 kHz",
}


def _speech(clip_path: Path):
    """A demo clip's speech without its padding: (samples at 22.05 kHz)."""
    import numpy as np
    import soundfile as sf

    x, _ = sf.read(clip_path, dtype="float32")
    loud = np.flatnonzero(np.abs(x) > 0.02 * max(1e-6, float(np.abs(x).max())))
    return x[max(0, loud[0] - 441) : loud[-1] + 441] if loud.size else x


def clip_set(name: str, n: int) -> Path:
    """`n` clips of one kind (CLIP_SETS) over WORDS, made once from the demo clips (soxr for the rates)."""
    import numpy as np
    import soundfile as sf
    import soxr

    if name == "demo1s":
        return synth_dataset(n)
    root = OUT / f"set-{name}-{n}"
    if (root / ".complete").exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    clips, noise = source_clips()
    rng = np.random.default_rng(3)
    shutil.copytree(noise, root / "_background_noise_")
    for i in range(n):
        src = clips[i % len(clips)]
        speech = _speech(src)
        if name == "sc16k":
            x = soxr.resample(speech, 22050, 16000, quality="HQ")
            length = 16000 if rng.random() < 0.9 else int(rng.uniform(0.5, 1.0) * 16000)
            pad = max(0, length - len(x))
            x = np.pad(x, (pad // 2, pad - pad // 2))[:length]
            rate = 16000
        elif name == "user":
            rate = 44100 if i % 2 else 48000
            x = soxr.resample(speech, 22050, rate, quality="HQ")
            length = int(rng.uniform(0.5, 2.0) * rate)
            pad = max(0, length - len(x))
            lead = int(rng.integers(0, pad + 1))
            x = np.pad(x, (lead, pad - lead))[:length] + rng.normal(0, 0.002, length).astype(np.float32)
            if i % 3 == 0:
                x = np.stack([x, 0.8 * x], axis=1)
        else:
            x, rate = speech, 22050
        (root / src.parent.name).mkdir(parents=True, exist_ok=True)
        sf.write(root / src.parent.name / f"{i:08x}_nohash_0.wav", x, rate, subtype="PCM_16")
    (root / ".complete").write_text("ok\n")
    return root


def clip_sets_part(n: int, cores: int, baseline_clips: int, repeat: int) -> None:
    """Per clip set: ours with 1 and `cores` workers (best of `repeat`), peak process-tree RSS, the baseline."""
    ours = {}
    for name in CLIP_SETS:  # all of ours first: the baseline imports TensorFlow, which would count in the RSS
        dataset = clip_set(name, n)
        one = max(run_ours(dataset, 1, f"set1-{name}") for _ in range(repeat))
        many = max(run_ours(dataset, cores, f"setn-{name}") for _ in range(repeat))
        _, _, peak, _, _ = run_ours(dataset, cores, f"setrss-{name}", sample_rss=True)
        ours[name] = (one, many, peak)
    rows = []
    for name, what in CLIP_SETS.items():
        dataset = clip_set(name, n)
        wavs = sorted(str(p) for p in dataset.glob("*/*.wav") if not p.parent.name.startswith("_"))
        random.Random(0).shuffle(wavs)
        base = max(run_baseline(wavs[:baseline_clips], dataset / "_background_noise_") for _ in range(repeat))
        one, many, peak = ours[name]
        rows.append((name, what, one, many, peak, base))
        print(
            f"[{name}] {what}: ours 1 worker {one[0]:.0f} clips/s ({one[3]:.2f} CPU ms/clip), {cores} workers "
            f"{many[0]:.0f} clips/s ({many[3]:.2f} CPU ms/clip), peak RSS {peak / 1e6:.0f} MB; baseline "
            f"{base[0]:.0f} clips/s ({base[1]:.2f} CPU ms/clip) -> {many[0] / base[0]:.1f}x the baseline, "
            f"{many[0] / one[0]:.2f}x from 1 to {cores} workers",
            flush=True,
        )
    print(
        f"\n| clip set | clips | ours 1 worker clips/s | ours {cores} workers clips/s | 1 -> {cores} | CPU ms/clip "
        f"(1 / {cores} workers) | peak RSS | baseline clips/s | baseline CPU ms/clip | ours / baseline |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for _name, what, one, many, peak, base in rows:
        print(
            f"| {what} | {one[1]:,} | {one[0]:,.0f} | {many[0]:,.0f} | {many[0] / one[0]:.2f}x | {one[3]:.2f} / "
            f"{many[3]:.2f} | {peak / 1e6:.0f} MB | {base[0]:,.0f} | {base[1]:.2f} | **{many[0] / base[0]:.1f}x** |"
        )


RUNS = OUT / "runs"
_run_numbers = itertools.count()


def preset_for(dataset: Path, workers: int, name: str):
    return from_dict(
        {
            "name": name,
            "run_dir": str(RUNS / name),
            "dataset": {"path": str(dataset)},
            "classes": {"keywords": WORDS[:4], "unknown": True, "background": False, "unknown_ratio": 0.0},
            "features": {"variants": 0, "workers": workers},
        }
    )


class TreeSampler:
    """Samples the RSS of the whole process tree (main + forkserver + pool workers) every 50 ms in a thread."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._me = psutil.Process()

    def _run(self) -> None:
        while not self._stop.is_set():
            children = self._me.children(recursive=True)  # every time: a 1k-clip run ends in 0.4 s
            rss = self._me.memory_info().rss
            for child in children:
                try:
                    rss += child.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, rss)
            time.sleep(0.05)

    def __enter__(self) -> "TreeSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _own_cpu_s(kernel_only: bool = False) -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_stime if kernel_only else usage.ru_utime + usage.ru_stime


def _workers_cpu_s() -> tuple[float, float]:
    """(user, kernel) CPU seconds of all pool workers that have exited: the forkserver reaps them, so their
    times add up in its children's times (/proc/<pid>/stat cutime, cstime). Exact, nothing sampled."""
    user = kernel = 0.0
    for child in psutil.Process().children():
        try:
            if "forkserver" in " ".join(child.cmdline()):
                times = child.cpu_times()
                user, kernel = user + times.children_user, kernel + times.children_system
        except psutil.Error:
            pass
    return user, kernel


def run_ours(dataset: Path, workers: int, name: str, sample_rss: bool = False) -> tuple[float, int, int, float, float]:
    """-> (clips/s for the whole stage, files, peak tree RSS (0 unless sample_rss), CPU ms per clip, of which
    kernel). Starts from an empty folder. RSS sampling runs a thread in this process, so throughput runs go
    without it (it would take CPU from the workers).

    Every run writes to a new folder and nothing is deleted until the benchmark ends: this VM's ext4 has no
    journal, and without one ext4 skips inodes freed in the last minutes by reading each of them on every
    file creation (perf: recently_deleted() in __ext4_new_inode; 60 s, 360 s while the inode table block is
    dirty). After an `rm -rf` of a previous run that added 0.2-0.7 ms of kernel time to every .npy written,
    unrelated to our code."""
    preset = preset_for(dataset, workers, f"{name}-{next(_run_numbers)}")
    os.sync()  # the previous runs' files go to disk now, not during this run
    cpu_before, kernel_before = _own_cpu_s(), _own_cpu_s(kernel_only=True)
    workers_before = _workers_cpu_s()
    peak = 0
    if sample_rss:
        with TreeSampler() as tree:
            summary = run_features(preset, lambda event: None, CancelToken())
        peak = tree.peak
    else:
        summary = run_features(preset, lambda event: None, CancelToken())
    files = summary["files_written"]
    workers_user, workers_kernel = (after - before for after, before in zip(_workers_cpu_s(), workers_before))
    cpu_ms = (_own_cpu_s() - cpu_before + workers_user + workers_kernel) * 1000 / max(files, 1)
    kernel_ms = (_own_cpu_s(kernel_only=True) - kernel_before + workers_kernel) * 1000 / max(files, 1)
    return summary["clips_per_s"], files, peak, cpu_ms, kernel_ms


def run_baseline(files: list[str], noise_dir: Path) -> tuple[float, float]:
    """diy-alexa's notebook style: per-file eager TensorFlow, results kept in a list. -> (clips/s, CPU ms/clip)"""
    import numpy as np
    import soundfile as sf
    import tensorflow as tf

    def get_files(folder: Path) -> list[str]:
        return glob.glob(str(folder / "*.wav"))

    def resample(audio, rate):
        n_out = int(round(int(audio.shape[0]) * 16000 / rate))
        spectrum = tf.signal.rfft(audio)[: n_out // 2 + 1]
        return tf.signal.irfft(spectrum, fft_length=[n_out]) * (n_out / int(audio.shape[0]))

    def get_spectrogram(audio):
        audio = audio - np.mean(audio)
        audio = audio / np.max(np.abs(audio))
        spectrogram = tf.raw_ops.AudioSpectrogram(
            input=tf.reshape(audio, (-1, 1)), window_size=320, stride=160, magnitude_squared=True
        ).numpy()
        spectrogram = tf.nn.pool(
            input=tf.expand_dims(spectrogram, -1),
            window_shape=[1, 6],
            strides=[1, 6],
            pooling_type="AVG",
            padding="SAME",
        )
        spectrogram = tf.squeeze(spectrogram, axis=0)
        return np.log10(spectrogram + 1e-6)

    def process_file(path):
        wav, rate = tf.audio.decode_wav(tf.io.read_file(path))
        audio = tf.reduce_mean(wav, -1)  # mono as is; stereo downmixed (the notebook would stop there)
        if int(rate) != 16000:
            audio = resample(audio, int(rate))
        audio = audio[:16000]
        audio = tf.pad(audio, [[0, 16000 - tf.shape(audio)[0]]])
        audio = (audio - np.mean(audio)) / np.std(audio)
        trimmed = np.asarray(audio)
        loud = np.flatnonzero(np.abs(trimmed / np.max(np.abs(trimmed))) > 0.1)  # voice position
        voice_start, voice_end = (int(loud[0]), int(loud[-1])) if loud.size else (0, len(trimmed))
        end_gap = len(trimmed) - voice_end
        audio = np.roll(audio, int(np.random.uniform(0, voice_start + end_gap) + end_gap))
        background_volume = np.random.uniform(0, 0.1)
        background_file = np.random.choice(get_files(noise_dir))
        frames = sf.info(background_file).frames
        start = np.random.randint(0, frames - 16000)
        background, _ = sf.read(background_file, start=start, stop=start + 16000, dtype="float32")
        background = tf.cast(background, tf.float32)
        background = background - np.mean(background)
        background = background / np.max(np.abs(background))
        audio = audio + background_volume * background
        return get_spectrogram(audio)

    for path in files[:20]:  # warm-up: TF's first calls are slow
        process_file(path)
    os.sync()  # as for our runs: no writeback of earlier runs' files during this one
    results = []
    started, cpu_before = time.perf_counter(), _own_cpu_s()
    for path in files:
        results.append(process_file(path))
    return len(files) / (time.perf_counter() - started), (_own_cpu_s() - cpu_before) * 1000 / len(files)


def profile_clip(rate: int, clips: int = 300, repeat: int = 7) -> None:
    """Per-step cost of one clip as a pool worker runs it (in this process, after the same worker set-up):
    perf_counter splits, the minimum over `repeat` passes (the least disturbed pass on a shared machine)."""
    import numpy as np

    from kwtui.core.data import spectrogram as spec
    from kwtui.core.data.audio import Audio, fit_to_clip, read_pcm16, resample
    from kwtui.core.features import worker as F

    F._keep_freed_memory()
    dataset = synth_dataset(4000, rate)
    wavs = sorted(str(p) for p in dataset.glob("*/*.wav") if not p.parent.name.startswith("_"))[:clips]
    noise = sorted(str(p) for p in (dataset / "_background_noise_").glob("*.wav"))
    config = {"time_shift_ms": 100, "noise_volume": (0.0, 0.1), "train_noise": [(noise[0], 0.0, 10.0)]}
    out = RUNS / f"profile-{rate}-{next(_run_numbers)}"
    out.mkdir(parents=True)
    steps = (
        "read + parse",
        "resample",
        "fit + silence check",
        "augment (variants > 0 only)",
        "spectrogram",
        ".npy write + rename",
    )
    best = np.full(len(steps), np.inf)
    clock = time.perf_counter
    for n in range(repeat):
        spent = np.zeros(len(steps))
        for i, path in enumerate(wavs):  # load_audio's steps for a mono PCM16 file, timed one by one
            t0 = clock()
            data, file_rate = read_pcm16(path)
            t1 = clock()
            x = resample(data[:, 0], file_rate)
            t2 = clock()
            x = fit_to_clip(x)
            _ = Audio(x, file_rate).silent
            t3 = clock()
            F.augment(x, np.random.default_rng(i), config)
            t4 = clock()
            features = spec.spectrogram(x)
            t5 = clock()
            F.write_npy_atomic(str(out / f"{n}-{i}.npy"), features)
            t6 = clock()
            spent += (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5)
        best = np.minimum(best, spent)
    cells = ", ".join(f"{name} {ms:.3f}" for name, ms in zip(steps, best * 1000 / len(wavs)))
    print(
        f"[{rate / 1000:g} kHz clip, in-process, ms, best of {repeat} x {len(wavs)} clips] {cells}; sum without "
        f"augment {(best.sum() - best[3]) * 1000 / len(wavs):.3f}",
        flush=True,
    )


def task_overhead(cores: int, tasks: int = 200) -> None:
    """Round trip of an empty batch through the pool: submit, pickle, run, result (per task, not per clip)."""
    from kwtui.core.features import worker as F
    from kwtui.core.features.pool import make_pool

    config = {"time_shift_ms": 0, "noise_volume": (0.0, 0.0), "train_noise": [], "parent_pid": os.getpid()}
    with make_pool(cores, config) as pool:
        pool.submit(F.process_batch, str(OUT), []).result()  # workers started
        started = time.perf_counter()
        for _ in range(tasks):
            pool.submit(F.process_batch, str(OUT), []).result()
        print(
            f"pool round trip of one task (sequential, {cores} workers): "
            f"{(time.perf_counter() - started) * 1000 / tasks:.3f} ms (a task carries up to 256 clips)"
        )


def _spectrograms(count: int) -> float:
    """Seconds for `count` spectrograms of one clip: pure numpy work, no I/O."""
    import numpy as np

    from kwtui.core.data.spectrogram import spectrogram

    clip = np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32)
    started = time.perf_counter()
    for _ in range(count):
        spectrogram(clip)
    return time.perf_counter() - started


def machine_scaling(cores: int, count: int = 2000) -> float:
    """What this machine gives right now from 1 to `cores` processes on pure CPU work (no I/O, no shared
    state): the ceiling for our speed-up, which a shared VM's neighbours move from run to run."""
    with ProcessPoolExecutor(cores, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(_spectrograms, [50] * cores))  # processes started and warm
        started = time.perf_counter()
        for _ in range(cores):
            pool.submit(_spectrograms, count).result()
        one_at_a_time = time.perf_counter() - started
        started = time.perf_counter()
        list(pool.map(_spectrograms, [count] * cores))
        return one_at_a_time / (time.perf_counter() - started)


def shipped_part(n: int, cores: int, baseline_clips: int, repeat: int, name: str = "commands") -> None:
    """The features stage with a shipped preset as it is (augmentation on: each keyword clip also gives
    `features.variants` augmented files; running speech synthesized when the dataset has none, once, in a warm-up
    run not timed), against the baseline on the same clips, interleaved. What counts: feature files written per
    second of the whole stage, since every one is a training example, as each of the baseline's clips is."""
    from kwtui.core.preset import apply_overrides, load_preset, shipped_presets_dir

    dataset = synth_dataset(n, 16000)
    wavs = sorted(str(p) for p in dataset.glob("*/*.wav") if not p.parent.name.startswith("_"))
    random.Random(0).shuffle(wavs)
    speech: list[str] = []  # after the warm-up: the running speech it synthesized, as the timed runs' own

    def ours(label: str) -> tuple[float, int, float]:
        base = load_preset(shipped_presets_dir() / f"{name}.toml").to_dict()
        base.update(name=label, run_dir=str(RUNS / label))
        sets = [f"dataset.path={json.dumps(str(dataset))}", f"features.workers={cores}"]
        if speech:
            sets.append(f"classes.negative_speech={json.dumps(speech)}")
        preset = from_dict(apply_overrides(base, sets))
        os.sync()
        started = time.monotonic()
        summary = run_features(preset, lambda event: None, CancelToken())
        seconds = time.monotonic() - started
        if not speech:
            speech.append(str(RUNS / label / "synthetic_speech"))
        return summary["files_written"] / seconds, summary["files_written"], seconds

    ours(f"shipped-warm-{next(_run_numbers)}")  # synthesizes the running speech once (kwtui caches it), warms up
    runs, base = [], []
    for _ in range(repeat):
        runs.append(ours(f"shipped-{next(_run_numbers)}"))
        base.append(run_baseline(wavs[:baseline_clips], dataset / "_background_noise_"))
    rate, files, seconds = max(runs)
    baseline, _ = max(base)
    print(
        f"[shipped {name} preset as is, {cores} workers, {n} clips at 16 kHz, best of {repeat}] {files} feature "
        f"files in {seconds:.1f} s: {rate:.0f} files/s; baseline on {baseline_clips} of the same clips: "
        f"{baseline:.0f} clips/s -> {rate / baseline:.2f}x (target >= 1.0x); all runs: ours "
        f"{[round(r[0]) for r in runs]}, baseline {[round(b[0]) for b in base]}"
    )


def throughput(n: int, rate: int, cores: int, baseline_clips: int, repeat: int) -> None:
    """Best of `repeat` interleaved runs for each side: on a shared machine the best run is the least disturbed."""
    dataset = synth_dataset(n, rate)
    wavs = sorted(str(p) for p in dataset.glob("*/*.wav") if not p.parent.name.startswith("_"))
    random.Random(0).shuffle(wavs)
    one, many, base = [], [], []
    ceiling = [machine_scaling(cores)]
    for _ in range(repeat):
        one.append(run_ours(dataset, 1, f"w1-{rate}"))
        many.append(run_ours(dataset, cores, f"wn-{rate}"))
        base.append(run_baseline(wavs[:baseline_clips], dataset / "_background_noise_"))
    ceiling.append(machine_scaling(cores))
    rate_1, files, _, cpu_1, kernel_1 = max(one)
    rate_n, _, _, cpu_n, kernel_n = max(many)
    baseline, cpu_base = max(base)
    khz = f"[{rate / 1000:g} kHz clips, best of {repeat}]"
    print(
        f"{khz} ours, 1 worker: {rate_1:.0f} clips/s ({cpu_1:.2f} CPU ms/clip, {kernel_1:.2f} in the kernel); "
        f"{cores} workers: {rate_n:.0f} clips/s ({cpu_n:.2f} CPU ms/clip, {kernel_n:.2f} in the kernel); "
        f"{files} clips, whole stage incl. scan and pool start "
        f"-> {rate_n / rate_1:.2f}x from 1 to {cores} workers"
    )
    print(
        f"{khz} baseline (diy-alexa notebook style: eager TF per file, results in a list, 1 process) on "
        f"{baseline_clips} of the same clips: {baseline:.0f} clips/s ({cpu_base:.2f} CPU ms/clip)"
    )
    print(
        f"{khz} ours vs baseline, wall clock: {cores} workers {rate_n / baseline:.1f}x, 1 worker "
        f"{rate_1 / baseline:.1f}x; CPU time per clip: {cpu_base / cpu_1:.1f}x less"
    )
    print(
        f"{khz} all runs, clips/s: 1 worker {[round(r[0]) for r in one]}, {cores} workers "
        f"{[round(r[0]) for r in many]}, baseline {[round(b[0]) for b in base]}"
    )
    print(
        f"{khz} the machine itself, 1 -> {cores} processes on pure numpy work (no I/O), before and after these "
        f"runs: {ceiling[0]:.2f}x, {ceiling[1]:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sets (for a smoke test)")
    parser.add_argument(
        "--only", choices=("throughput", "rss", "scan", "profile", "sets", "shipped"), help="run one part"
    )
    parser.add_argument("--repeat", type=int, default=3, help="throughput runs per side (best is reported)")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    OUT.mkdir(parents=True, exist_ok=True)
    if RUNS.exists():  # the previous benchmark's output: deleted after this one is measured (see run_ours)
        RUNS.rename(OUT / f"runs-old-{os.getpid()}")
    try:
        run_parts(args, cores)
    finally:  # this run's output stays until the next run ends: a delete would slow the next run's first minutes
        for folder in OUT.glob("runs-old-*"):
            shutil.rmtree(folder, ignore_errors=True)


def run_parts(args: argparse.Namespace, cores: int) -> None:
    sizes = (250, 500, 1000) if args.quick else (1000, 4000, 16000)
    print(f"machine: {cores} cores, load average {os.getloadavg()[0]:.2f} (1 min) before the run")
    run_ours(synth_dataset(sizes[0]), cores, "warm-up")  # starts the forkserver once, fills the page cache

    if args.only in (None, "profile"):
        sys.stdout.flush()
        # in a process of its own, like a pool worker: its malloc setting must not change this one's RSS
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            for rate in (22050, 16000):
                pool.submit(profile_clip, rate, 100 if args.quick else 300).result()
        task_overhead(cores)

    if args.only in (None, "rss"):
        peaks = {}
        for n in sizes:
            _, files, peak, _, _ = run_ours(synth_dataset(n), cores, f"rss{n}", sample_rss=True)
            peaks[n] = peak
            print(f"peak process-tree RSS at {files} clips ({cores} workers): {peak / 1e6:.0f} MB")
        growth = (peaks[sizes[-1]] - peaks[sizes[0]]) / peaks[sizes[0]] * 100
        print(f"RSS growth {sizes[0]} -> {sizes[-1]} clips: {growth:+.1f} % (target < 15 %, absolute < 300 MB)")

    if args.only in (None, "scan"):
        from kwtui.core.data.scan import scan_dataset

        tree = speech_commands_tree(*((35, 300) if args.quick else (35, 3000)))
        scan = scan_dataset(tree)
        print(
            f"scan (headers only) of a Speech-Commands-shaped tree: {len(scan.words)} words, {scan.total_clips} "
            f"clips in {scan.seconds_taken:.1f} s ({scan.total_clips / scan.seconds_taken:.0f} files/s)"
        )
        # linear in the clips of one folder: ten times the clips must take about ten times as long
        small, large = (2_000, 20_000) if args.quick else (20_000, 200_000)
        times = {}
        for clips in (small, large):
            one = scan_dataset(speech_commands_tree(1, clips))
            times[clips] = one.seconds_taken
            print(f"scan of one word folder of {one.total_clips} clips: {one.seconds_taken:.1f} s")
        print(f"{large // small}x the clips in one folder: {times[large] / times[small]:.1f}x the time (linear: ~10x)")
    if args.only == "shipped":  # not in the default run: the shipped preset's augmentation, timed
        shipped_part(500 if args.quick else 4000, cores, 200 if args.quick else 1000, args.repeat)
        return
    if args.only == "sets":  # not in the default run (about 10 min): clips of every length and rate
        clip_sets_part(
            500 if args.quick else 4000, cores, 200 if args.quick else 1000, 1 if args.quick else args.repeat
        )
        return
    # last: the baseline imports TensorFlow into this process, which would distort the RSS figures
    if args.only in (None, "throughput"):
        for rate in (22050, 16000):
            throughput(sizes[1], rate, cores, 200 if args.quick else 1000, 1 if args.quick else args.repeat)

    print(f"load average {os.getloadavg()[0]:.2f} (1 min) after the run")


if __name__ == "__main__":
    main()
