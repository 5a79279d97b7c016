"""Bad-input corpus fixtures (owned by the reliability work). Imported by tests/conftest.py.

Everything is generated at test time: real speech from espeak-ng, written with soundfile in the
formats users actually have (8/24-bit, float, stereo, odd rates), plus the broken files and
odd paths a messy dataset contains. `kwtui(...)` runs the real CLI in a subprocess.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[2]
KWTUI = REPO / ".venv" / "bin" / "kwtui"
ESPEAK_RATE = 22050

__all__ = [
    "Corpus",
    "bad_corpus",
    "clean_dataset",
    "kwtui",
    "make_bad_corpus",
    "make_clean_dataset",
    "no_dac_prefix",
    "speak",
    "write_preset",
]


# --- running the real CLI ------------------------------------------------------------------------


def kwtui_command() -> list[str]:
    if KWTUI.exists():
        return [str(KWTUI)]
    return [sys.executable, "-m", "kwtui"]


def no_dac_prefix() -> list[str]:
    """Run a command so that file permissions apply even though the tests run as root.

    As root, chmod 000 stops nothing: root has CAP_DAC_OVERRIDE. `setpriv` drops that capability
    (and CAP_DAC_READ_SEARCH) from the bounding set, so the child stays uid 0, still owns and can
    write its files, but mode-000 files are unreadable to it. Not root: permissions already apply.
    """
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv (util-linux): cannot make a file unreadable")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search"]


def kwtui(
    *args: str | os.PathLike,
    cwd: str | os.PathLike | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 300,
    prefix: list[str] | None = None,
) -> subprocess.CompletedProcess:
    """Run `kwtui ARGS` (niced) and capture text output. Never raises on a non-zero exit."""
    full_env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}
    full_env.update(env or {})
    command = ["nice", "-n", "10", *(prefix or []), *kwtui_command(), *map(str, args)]
    return subprocess.run(command, cwd=cwd or REPO, env=full_env, capture_output=True, text=True, timeout=timeout)


def write_preset(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- audio ---------------------------------------------------------------------------------------

_VOICES = ("en", "en-us", "en-gb-x-rp", "en+f3", "en+m3", "en+f2")


def speak(word: str, variant: int = 0) -> np.ndarray:
    """Speech for `word` from espeak-ng, float32 mono at 22.05 kHz; `variant` changes voice/speed/pitch."""
    voice = _VOICES[variant % len(_VOICES)]
    speed = 140 + (variant * 37) % 80
    pitch = 30 + (variant * 23) % 50
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "w.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(out), word],
            check=True,
            capture_output=True,
        )
        data, rate = sf.read(str(out), dtype="float32")
    assert rate == ESPEAK_RATE
    return data


def resample_linear(x: np.ndarray, src: int, dst: int) -> np.ndarray:
    """Test-side resampler (independent of kwtui.core.data.audio): linear interpolation."""
    n = max(1, int(round(len(x) * dst / src)))
    return np.interp(np.arange(n) * (src / dst), np.arange(len(x)), x).astype(np.float32)


def fit_seconds(x: np.ndarray, rate: int, seconds: float) -> np.ndarray:
    n = int(round(seconds * rate))
    if len(x) >= n:
        return x[:n]
    lead = (n - len(x)) // 2
    return np.pad(x, (lead, n - len(x) - lead))


def write_wav(path: Path, x: np.ndarray, rate: int = 16000, subtype: str = "PCM_16") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), x, rate, subtype=subtype, format="WAV")
    return path


def speech_clip(word: str, variant: int = 0, rate: int = 16000, seconds: float = 1.0) -> np.ndarray:
    x = resample_linear(speak(word, variant), ESPEAK_RATE, rate)
    return fit_seconds(0.8 * x / max(1e-6, float(np.abs(x).max())), rate, seconds)


def noise(seconds: float, seed: int, rate: int = 16000, volume: float = 0.3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    white = rng.standard_normal(n)
    hum = np.sin(2 * np.pi * 50 * np.arange(n) / rate)
    return (volume * (0.6 * white / 3 + 0.4 * hum)).astype(np.float32)


def clip_name(word: str, index: int) -> str:
    """Speech-Commands style: <speaker hash>_nohash_<n>.wav (hash stable per word/speaker)."""
    speaker = hashlib.sha1(f"{word}-{index // 2}".encode()).hexdigest()[:8]
    return f"{speaker}_nohash_{index % 2}.wav"


# --- a clean dataset -----------------------------------------------------------------------------


def make_clean_dataset(
    root: Path,
    words: dict[str, int],
    noise_seconds: tuple[float, ...] = (6.0, 6.0),
    lists: bool = True,
) -> Path:
    """A small Speech-Commands-shaped dataset: <word>/<hash>_nohash_<n>.wav, _background_noise_/, lists.

    Clips whose index is 1 mod 5 go to validation, 2 mod 5 to testing (speaker-consistent enough
    for tests); the rest train.
    """
    validation, testing = [], []
    for word, count in words.items():
        for i in range(count):
            name = clip_name(word, i)
            write_wav(root / word / name, speech_clip(word, i))
            rel = f"{word}/{name}"
            (validation if i % 5 == 1 else testing if i % 5 == 2 else []).append(rel)
    for k, seconds in enumerate(noise_seconds):
        write_wav(root / "_background_noise_" / f"noise_{k}.wav", noise(seconds, seed=k))
    if lists:
        (root / "validation_list.txt").write_text("".join(f"{p}\n" for p in validation))
        (root / "testing_list.txt").write_text("".join(f"{p}\n" for p in testing))
    return root


@pytest.fixture(scope="session")
def clean_dataset(tmp_path_factory) -> Path:
    """yes/no keywords, two unknown words, two noise files: ~50 clips, ~3 s to synthesize."""
    root = tmp_path_factory.mktemp("clean") / "dataset"
    return make_clean_dataset(root, {"yes": 12, "no": 12, "cat": 8, "tree": 8})


# --- the bad-input corpus ------------------------------------------------------------------------

USABLE = "usable"  # must become a feature file (possibly with a conversion note)
SKIPPED = "skipped"  # must be skipped and listed with a reason
IGNORED = "ignored"  # not a clip at all (stray file); must never become a feature or crash anything


@dataclass
class Corpus:
    root: Path
    expect: dict[str, str] = field(default_factory=dict)  # path relative to root -> USABLE/SKIPPED/IGNORED
    reason_words: dict[str, tuple[str, ...]] = field(default_factory=dict)  # a skip reason mentions one of these
    keywords: tuple[str, ...] = ("yes", "no")
    unreadable: str = ""  # rel path of the chmod-000 file ("" if not made)

    def of(self, category: str) -> list[str]:
        return sorted(p for p, c in self.expect.items() if c == category)

    def chmod_back(self) -> None:
        if self.unreadable:
            (self.root / self.unreadable).chmod(0o644)


def make_bad_corpus(root: Path) -> Corpus:
    """A dataset with every kind of problem a real folder has, next to enough good clips to train on."""
    c = Corpus(root=root)
    good_per_word = {"yes": 8, "no": 8, "cat": 4}
    for word, count in good_per_word.items():
        for i in range(count):
            rel = f"{word}/{clip_name(word, i)}"
            write_wav(root / rel, speech_clip(word, i))
            c.expect[rel] = USABLE

    def usable(rel: str, x: np.ndarray, rate: int = 16000, subtype: str = "PCM_16") -> None:
        write_wav(root / rel, x, rate, subtype)
        c.expect[rel] = USABLE

    def skipped(rel: str, *reason_words: str) -> None:
        c.expect[rel] = SKIPPED
        c.reason_words[rel] = reason_words

    yes = lambda v, rate=16000, seconds=1.0: speech_clip("yes", 10 + v, rate, seconds)  # noqa: E731
    # formats and rates that must be converted, not rejected
    usable("yes/fmt_8bit.wav", yes(0), subtype="PCM_U8")
    usable("yes/fmt_24bit.wav", yes(1), subtype="PCM_24")
    usable("yes/fmt_float.wav", yes(2), subtype="FLOAT")
    usable("yes/fmt_stereo.wav", np.stack([yes(3), 0.5 * yes(3)], axis=1))
    for k, rate in enumerate((8000, 22050, 44100, 48000)):
        usable(f"yes/rate_{rate}.wav", yes(4 + k, rate), rate)
    usable("no/short_0.1s.wav", speech_clip("no", 20, seconds=0.1))
    usable(
        "no/long_3s.wav",
        np.concatenate([noise(1.0, 7, volume=0.01), speech_clip("no", 21), noise(1.0, 8, volume=0.01)]),
    )
    # odd paths
    usable("yes/with space.wav", yes(8))
    usable("no/ñandú-ÿes 語.wav", speech_clip("no", 22))
    usable("straße café/clip one.wav", speech_clip("street", 0))  # an unknown word with a non-ASCII, spaced name
    # silence: usable as a feature or skipped as "silent", but always accounted for
    write_wav(root / "no/silent.wav", np.zeros(16000, dtype=np.float32))
    c.expect["no/silent.wav"] = "either"
    c.reason_words["no/silent.wav"] = ("silent", "silence")

    # broken files: skipped with a reason
    (root / "yes/empty.wav").write_bytes(b"")
    skipped("yes/empty.wav", "empty", "not readable", "readable", "too short", "samples")
    (root / "yes/not_audio.wav").write_text("this is a text file pretending to be a wav\n" * 20)
    skipped("yes/not_audio.wav", "not readable", "readable", "audio", "format")
    write_wav(root / "no/header_only.wav", np.zeros(0, dtype=np.float32))
    skipped("no/header_only.wav", "empty", "no samples", "too short", "samples")
    good = (root / "yes" / clip_name("yes", 0)).read_bytes()
    (root / "yes/truncated_header.wav").write_bytes(good[:30])  # cut inside the RIFF header
    skipped("yes/truncated_header.wav", "not readable", "readable", "audio", "truncated", "header", "empty")
    # cut in the middle of the data: libsndfile reads what is there, so this one may be usable
    (root / "no/truncated_data.wav").write_bytes((root / "no" / clip_name("no", 0)).read_bytes()[:16044])
    c.expect["no/truncated_data.wav"] = "either"
    c.reason_words["no/truncated_data.wav"] = ("truncated", "short", "readable", "audio")
    os.symlink("loop_b.wav", root / "yes/loop_a.wav")
    os.symlink("loop_a.wav", root / "yes/loop_b.wav")
    skipped("yes/loop_a.wav", "symbolic", "symlink", "link", "loop", "cannot open", "not readable", "readable")
    skipped("yes/loop_b.wav", "symbolic", "symlink", "link", "loop", "cannot open", "not readable", "readable")
    unreadable = root / "no/unreadable.wav"
    write_wav(unreadable, speech_clip("no", 23))
    unreadable.chmod(0o000)
    c.unreadable = "no/unreadable.wav"
    skipped("no/unreadable.wav", "permission", "cannot open", "not readable", "readable", "denied")

    # stray files and folders
    for rel, text in (("yes/README.txt", "notes"), ("no/.DS_Store", "\0\0\1"), ("notes.md", "# my dataset")):
        (root / rel).write_text(text)
        c.expect[rel] = IGNORED
    os.symlink("..", root / "yes/up_loop")  # a directory symlink back up: scanning must not recurse forever
    os.symlink(".", root / "self_loop")  # a word folder that is a loop onto the dataset root
    (root / "empty_word").mkdir()  # a word folder with zero clips
    (root / "_background_noise_").mkdir()
    write_wav(root / "_background_noise_/hum.wav", noise(4.0, 3))
    write_wav(root / "_background_noise_/hum 44k.wav", noise(3.0, 4, rate=44100), 44100)
    (root / "_background_noise_/README.md").write_text("noise files")
    c.expect["_background_noise_/README.md"] = IGNORED
    # split lists: validation names a file that does not exist; testing list is missing altogether
    (root / "validation_list.txt").write_text(
        f"yes/{clip_name('yes', 1)}\nno/{clip_name('no', 1)}\nyes/does_not_exist.wav\n"
    )
    return c


@pytest.fixture
def bad_corpus(tmp_path) -> Corpus:
    corpus = make_bad_corpus(tmp_path / "bad dataset ü")
    yield corpus
    corpus.chmod_back()
