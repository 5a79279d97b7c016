"""The firmware's micro frontend (firmware/src/features/micro_frontend.cc on the pinned ESPMicroSpeechFeatures
1.1.0, the C library ESPHome's micro_wake_word links) against pymicro-features, the "micro" feature kwtui trains
on (kwtui/core/data/micro_frontend.py).

Verified here, slice by slice and EXACTLY (no tolerance), on ~16 s recordings of speech (espeak-ng), silence,
noise, a sweep, loud bursts and steady sounds, written as wavs at every rate kwtui accepts (8, 16, 22.05, 44.1,
48 kHz; mono PCM_16 and stereo float) and loaded and resampled by kwtui's own loader, so that noise reduction and
PCAN run through their whole state:
- the frontend equals pymicro-features on every whole recording, and on the 1 s clips kwtui cuts from them, each
  from a reset() frontend;
- the 32-bit build (g++ -m32, 4-byte pointers as on the chip) computes exactly what the 64-bit build computes;
- every configuration value is checked: changing any one of them changes the features (the test can fail).

Why the 32-bit check is against the 64-bit build and not against pymicro-features directly: the frontend builds
its tables at start-up in float (the 32-bit build with SSE, not x87 extended precision, which moved a filterbank
bound), and its mel filterbank calls log1pf. 32-bit glibc's log1pf (x87 assembly) differs
from the 64-bit one pymicro-features calls by 1 ulp on about a tenth of the arguments; two mel weights then differ
by 1/4096, and 0 to 5 of the 65,320 values per recording here (channels 32-39) by up to 1.7. That is the C
library of the machine, not the firmware: with the same log1pf in both (a test shim, `(float)log1p(x)`) the
32-bit and 64-bit builds agree on every value, and the 64-bit build with the libm pymicro-features uses agrees with
pymicro-features on every value. On the chip, newlib's log1pf builds those tables: NOT verified here.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from kwtui.core.data.audio import load_audio, load_clip, resample
from kwtui.core.data.micro_frontend import CHANNELS, SHAPE, FeatureStream, _pcm16, micro_features
from tests.helpers import firmware_runtime
from tests.helpers.firmware_runtime import FIRMWARE

RATES = (8000, 16000, 22050, 44100, 48000)
MASTER_RATE = 48000
RECORDINGS = [f"{rate}_{layout}" for rate in RATES for layout in ("mono", "stereo")]
PHRASES = [
    ("hey kiwi, turn on the kitchen lights please", "en-us", 0.9),
    ("seven, left, marvin, house", "en-gb", 0.2),
    ("okay nabu, what time is it", "en+f3", 0.03),
]


def _tools_missing() -> str | None:
    if shutil.which("g++") is None or shutil.which("gcc") is None or shutil.which("cmake") is None:
        return "gcc, g++ and cmake are needed"
    found = firmware_runtime.micro_features_source()
    return found if isinstance(found, str) else None


@pytest.fixture(scope="module")
def native_tool() -> Path:
    missing = _tools_missing()
    if missing:
        pytest.skip(missing)
    return firmware_runtime.build_micro_features(m32=False)


@pytest.fixture(scope="module")
def m32_tool() -> Path:
    missing = _tools_missing()
    if missing:
        pytest.skip(missing)
    if not firmware_runtime._m32_works():
        pytest.skip("g++ -m32 does not link (install g++-multilib)")
    return firmware_runtime.build_micro_features(m32=True)


def _speech(rng: np.random.Generator, text: str, voice: str, folder: Path) -> np.ndarray:
    """espeak-ng's voice at 48 kHz; without espeak-ng a voiced synthetic stand-in (pulse train through moving
    formants), so the test still runs everywhere."""
    if shutil.which("espeak-ng"):
        wav = folder / "phrase.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), text], check=True, capture_output=True)
        x, rate = sf.read(wav, dtype="float32")
        return resample(x, rate, MASTER_RATE)
    n = MASTER_RATE * 2
    t = np.arange(n) / MASTER_RATE
    f0 = 110 + 40 * np.sin(2 * np.pi * 0.7 * t)
    phase = np.cumsum(f0) / MASTER_RATE
    x = np.zeros(n)
    for k in range(1, 60):
        f = k * f0
        gain = sum(
            np.exp(-(((f - fc) / 120) ** 2))
            for fc in (500 + 300 * np.sin(3 * t), 1500 + 500 * np.cos(2 * t), 2600 + rng.uniform(-100, 100))
        )
        x += np.where(f < 7800, gain / k, 0) * np.sin(2 * np.pi * k * phase)
    return (x * (np.sin(2 * np.pi * 2.5 * t) > -0.3)).astype(np.float32)


@pytest.fixture(scope="module")
def recordings(tmp_path_factory) -> dict[str, Path]:
    """~16 s recordings at every accepted rate, mono and stereo: digital silence, speech at three levels, noise,
    a 100 Hz-7.9 kHz sweep, a loud burst, then 2 s of loud low-passed noise and a steady tone (long enough for the
    noise estimate to reach them, so noise reduction's floor matters), over a faint noise floor."""
    folder = tmp_path_factory.mktemp("micro-recordings")
    rng = np.random.default_rng(11)
    second = MASTER_RATE
    parts = [np.zeros(second // 2, np.float32)]
    for text, voice, peak in PHRASES:
        x = _speech(rng, text, voice, folder)
        parts += [
            peak * x / np.abs(x).max(),
            np.zeros(second // 4, np.float32),
            rng.normal(0, 0.01, second).astype(np.float32),
        ]
    t = np.arange(second) / MASTER_RATE
    fan = resample(rng.normal(0, 0.25, 2 * second // 4).astype(np.float32), MASTER_RATE // 4, MASTER_RATE)
    parts += [
        0.1 * np.sin(2 * np.pi * (100 + 3900 * t) * t).astype(np.float32),
        rng.uniform(-0.8, 0.8, second // 2).astype(np.float32),
        np.zeros(second // 2, np.float32),
        fan,
        0.3 * np.sin(2 * np.pi * 330 * t).astype(np.float32),
    ]  # steady: the noise estimate catches up
    master = np.concatenate(parts)
    master[second // 2 :] += rng.normal(0, 0.002, master.size - second // 2).astype(np.float32)
    paths = {}
    for rate in RATES:
        x = resample(master, MASTER_RATE, rate)
        other = 0.5 * np.roll(x, 37) + rng.normal(0, 0.003, x.size).astype(np.float32)  # a second microphone
        for layout, data, subtype in (("mono", x, "PCM_16"), ("stereo", np.stack([x, other], axis=1), "FLOAT")):
            path = folder / f"{rate}_{layout}.wav"
            sf.write(path, np.clip(data, -1, 1), rate, subtype=subtype)
            paths[f"{rate}_{layout}"] = path
    return paths


def firmware_features(tool: Path, clips: list[np.ndarray], tmp_path: Path) -> list[np.ndarray]:
    """The tool on each clip from a reset frontend (one file each, one run); its (n, 40) slices per clip."""
    files = []
    for i, clip in enumerate(clips):
        files.append(tmp_path / f"clip{i}.raw")
        files[-1].write_bytes(_pcm16(clip))  # the int16 pymicro-features is given (kwtui's own conversion)
    done = subprocess.run([str(tool), *map(str, files)], capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    slices = np.frombuffer(done.stdout, dtype="<f4").reshape(-1, CHANNELS)
    counts = [max(0, (len(clip) - 480) // 160 + 1) for clip in clips]
    assert len(slices) == sum(counts), (len(slices), counts)
    return np.split(slices, np.cumsum(counts)[:-1])


def assert_identical(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape, (got.shape, want.shape)
    differ = np.argwhere(got != want)
    assert differ.size == 0, (
        f"{len(differ)} of {want.size} values differ, first at slice/channel "
        f"{tuple(differ[0])}, max |diff| {np.abs(got - want).max():.4f}"
    )


@pytest.mark.parametrize("name", RECORDINGS)
def test_frontend_equals_pymicro_features_on_whole_recordings(native_tool, recordings, tmp_path, name):
    audio = load_audio(recordings[name])
    assert audio.source_rate == int(name.split("_")[0])
    want = FeatureStream().push(audio.samples)  # one fresh pymicro-features frontend over the whole recording
    assert len(want) > 900 and np.ptp(want) > 10  # seconds that exercise the frontend, not near-constant output
    (got,) = firmware_features(native_tool, [audio.samples], tmp_path)
    assert_identical(got, want)


def test_one_second_clips_from_a_reset_frontend(native_tool, recordings, tmp_path):
    """kwtui's training path: the loudest second of each file, each from a fresh frontend; the firmware frontend
    computes them one after another with reset() between them."""
    clips = [load_clip(recordings[name]).samples for name in RECORDINGS]
    got = firmware_features(native_tool, clips, tmp_path)
    for name, clip, features in zip(RECORDINGS, clips, got):
        assert features.shape == SHAPE, name
        assert_identical(features, micro_features(clip))


LOG1PF_SHIM = "#include <math.h>\nfloat __wrap_log1pf(float x) { return (float)log1p((double)x); }\n"


def _link_with_log1pf_shim(tool: Path, tmp_path: Path, m32: bool) -> Path:
    """micro_features_host linked again from `tool`'s build, its frontend's log1pf replaced by the shim."""
    flags = ["-m32", "-msse2", "-mfpmath=sse"] if m32 else []
    source = firmware_runtime.micro_features_source()
    shim = tmp_path / "log1pf_shim.c"
    shim.write_text(LOG1PF_SHIM)
    out = tmp_path / f"micro_features_host_shim{'32' if m32 else '64'}"
    build = tool.parent
    subprocess.run(
        [
            "g++",
            *flags,
            "-std=c++17",
            "-O2",
            "-I",
            str(FIRMWARE / "src"),
            "-isystem",
            str(Path(source) / "include"),
            str(FIRMWARE / "host/micro_features_host.cc"),
            "-x",
            "c",
            str(shim),
            "-x",
            "none",
            "-Wl,--wrap=log1pf",
            str(build / "libkwt_micro_frontend.a"),
            str(build / "libmicro_features.a"),
            "-lm",
            "-o",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    return out


def test_32_bit_build_computes_what_the_64_bit_build_computes(native_tool, m32_tool, recordings, tmp_path):
    """4-byte pointers, as on the chip, change nothing once both builds get the same log1pf (see the module
    docstring: the 32-bit glibc's log1pf is the only difference, and it only enters the start-up tables)."""
    clips = [load_audio(recordings[name]).samples for name in RECORDINGS]
    got = firmware_features(_link_with_log1pf_shim(m32_tool, tmp_path, m32=True), clips, tmp_path)
    want = firmware_features(_link_with_log1pf_shim(native_tool, tmp_path, m32=False), clips, tmp_path)
    for name, a, b in zip(RECORDINGS, got, want):
        assert len(a) > 900, name
        assert_identical(a, b)


# (file, exact text in the firmware source, replacement): each changes one value of the configuration or the
# output scale; the window constants change with their header constant, which the frontend checks at set-up.
MUTATIONS = {
    "window_25ms": [
        ("cc", "config.window.size_ms = 30;", "config.window.size_ms = 25;"),
        ("h", "kWindowSamples = 480;", "kWindowSamples = 400;"),
    ],
    "step_20ms": [
        ("cc", "config.window.step_size_ms = 10;", "config.window.step_size_ms = 20;"),
        ("h", "kStepSamples = 160;", "kStepSamples = 320;"),
    ],
    "lower_band_150": [("cc", "lower_band_limit = 125.0f;", "lower_band_limit = 150.0f;")],
    "upper_band_7000": [("cc", "upper_band_limit = 7500.0f;", "upper_band_limit = 7000.0f;")],
    "smoothing_bits_9": [("cc", "smoothing_bits = 10;", "smoothing_bits = 9;")],
    "even_smoothing": [("cc", "even_smoothing = 0.025f;", "even_smoothing = 0.03f;")],
    "odd_smoothing": [("cc", "odd_smoothing = 0.06f;", "odd_smoothing = 0.05f;")],
    # 0.05 -> 0.1 changes no value on these recordings: what the floor keeps, PCAN's shrink sends to 0 anyway.
    "min_signal_remaining": [("cc", "min_signal_remaining = 0.05f;", "min_signal_remaining = 0.2f;")],
    "pcan_off": [("cc", "enable_pcan = 1;", "enable_pcan = 0;")],
    "pcan_strength": [("cc", "strength = 0.95f;", "strength = 0.9f;")],
    "pcan_offset": [("cc", "offset = 80.0f;", "offset = 70.0f;")],
    "pcan_gain_bits": [("cc", "gain_bits = 21;", "gain_bits = 20;")],
    "log_off": [("cc", "enable_log = 1;", "enable_log = 0;")],
    "log_scale_shift": [("cc", "scale_shift = 6;", "scale_shift = 5;")],
    "output_scale": [("cc", "* kFeatureScale;", "* 0.04f;")],
}


@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_the_check_can_fail_any_config_change_gives_other_features(native_tool, recordings, tmp_path, mutation):
    features = tmp_path / "src/features"
    features.mkdir(parents=True)
    for ext in ("h", "cc"):
        text = (FIRMWARE / f"src/features/micro_frontend.{ext}").read_text()
        for file, old, new in MUTATIONS[mutation]:
            if file == ext:
                assert text.count(old) == 1, f"{old!r} is not (once) in micro_frontend.{ext}: update MUTATIONS"
                text = text.replace(old, new)
        (features / f"micro_frontend.{ext}").write_text(text)
    tool = tmp_path / "micro_features_host_mutated"
    subprocess.run(
        [
            "g++",
            "-std=c++17",
            "-O2",
            "-I",
            str(tmp_path / "src"),
            "-isystem",
            str(Path(firmware_runtime.micro_features_source()) / "include"),
            str(FIRMWARE / "host/micro_features_host.cc"),
            str(features / "micro_frontend.cc"),
            str(native_tool.parent / "libmicro_features.a"),
            "-lm",
            "-o",
            str(tool),
        ],
        check=True,
        capture_output=True,
    )
    samples = load_audio(recordings["16000_mono"]).samples
    done = subprocess.run([str(tool)], input=_pcm16(samples), capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    got = np.frombuffer(done.stdout, dtype="<f4").reshape(-1, CHANNELS)
    want = FeatureStream().push(samples)
    assert got.shape != want.shape or not np.array_equal(got, want)
