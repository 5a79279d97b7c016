"""Real recorded speech for the detection benchmark: the test recordings three PyPI source packages ship.

- pocketsphinx 5.1.1: LibriVox reading (Sense and Sensibility), spoken card names, digits and short commands;
- pyannote.audio 4.0.7: fifteen 30 s excerpts of meetings (far-field microphones, several talkers);
- silero-vad 6.2.3: two recordings of talk (1 min and 2.8 min).

About 13 minutes of real voices, microphones and rooms. The transcripts shipped (LibriVox, cards) say none of
the keywords; the meetings and talks ship none, and may say "yes", "no", "left" or "right" somewhere, so a commands
detection there is counted as a false accept only after a listen (see BENCHMARKS.md). Downloaded from PyPI by
pinned URL and sha256 (the only network this machine has, and the only real speech found there), each file
resampled to 16 kHz, brought to the level evaluation renders speech at, and written as one float32 stream like
the synthetic test sets' `ambient.f32`. A quarter of an hour cannot measure 0.5 false accepts per hour (0 in
0.21 h has a 95 % interval up to 17/h); it shows whether a model trained on espeak-ng voices fires on real ones
tens of times an hour, as the legacy models did.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import urllib.request
from pathlib import Path

import numpy as np
import soundfile as sf

from kwtui.core.data.ambient import SPEECH_RMS
from kwtui.core.data.audio import resample
from kwtui.core.data.mixing import active_rms
from kwtui.core.data.spectrogram import SAMPLE_RATE

FILES = "https://files.pythonhosted.org/packages"
# (sdist URL, sha256, members: path inside the archive -> sample rate of a headerless .raw, 0 for a wav)
SOURCES = (
    (
        f"{FILES}/61/e7/13e0e787ff467218de880310d79cba14424f13b87171ac44af0bde1e428c/pocketsphinx-5.1.1.tar.gz",
        "675778b309a22dfc9b7d37f7621976bba491d2a5f8c59696bd77fd6d07271355",
        {
            **{
                f"pocketsphinx-5.1.1/test/data/librivox/sense_and_sensibility_01_austen_64kb-0{n}.wav": 0
                for n in (870, 880, 890, 920, 930)
            },
            **{f"pocketsphinx-5.1.1/test/data/cards/00{n}.wav": 0 for n in range(1, 6)},
            "pocketsphinx-5.1.1/test/data/forever/input_2_16k.wav": 0,
            "pocketsphinx-5.1.1/test/data/forever/input_4_16k.wav": 0,
            "pocketsphinx-5.1.1/test/data/goforward.raw": 16000,
            "pocketsphinx-5.1.1/test/data/numbers.raw": 16000,
            "pocketsphinx-5.1.1/test/data/something.raw": 16000,
            "pocketsphinx-5.1.1/test/data/tidigits/dhd.2934z.raw": 16000,
            "pocketsphinx-5.1.1/test/data/vad/leak-test.wav": 0,
            "pocketsphinx-5.1.1/test/regression/chan3.wav": 0,
        },
    ),
    (
        f"{FILES}/6d/d7/03b1d00d431c7be1d98635fefb99c2da64d9b84b4b8a06d5302666a96c88/pyannote_audio-4.0.7.tar.gz",
        "3a903dfb5ca711d134cc2522561c9158b186836f5d62e8a57c46c6648e8a8229",
        {
            **{
                f"pyannote_audio-4.0.7/tests/data/{name}.wav": 0
                for name in ("dev00", "dev01", "trñ00", "tst00", "tst01", *(f"trn0{n}" for n in range(1, 10)))
            },
            "pyannote_audio-4.0.7/src/pyannote/audio/sample/sample.wav": 0,
        },
    ),
    (
        f"{FILES}/32/17/df6bfc8f659fc5c1e082c18275be67c5a581bd2d07734a65b141fc983ccf/silero_vad-6.2.3.tar.gz",
        "d7a23b09202be4953915cb9173089bb307eed0418a9bd4794d9ec5af07fa1996",
        {"silero_vad-6.2.3/tests/data/test.wav": 0, "silero_vad-6.2.3/examples/c++/aepyx.wav": 0},
    ),
)
VERSION = 1  # in recorded.json: a set built by another version is rebuilt


def _download(url: str, sha256: str, cache: Path) -> Path:
    target = cache / url.rsplit("/", 1)[1]
    if not target.exists() or hashlib.sha256(target.read_bytes()).hexdigest() != sha256:
        with urllib.request.urlopen(url, timeout=120) as response:  # noqa: S310 (a pinned https URL)
            data = response.read()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise SystemExit(f"{url}: sha256 differs from the pinned one; not used")
        target.write_bytes(data)
    return target


def _samples(data: bytes, raw_rate: int) -> np.ndarray:
    if raw_rate:
        audio, rate = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0, raw_rate
    else:
        audio, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
        audio = audio.mean(axis=1)
    audio = resample(audio, rate) if rate != SAMPLE_RATE else audio
    level = active_rms(audio)
    return (audio * (SPEECH_RMS / level)).astype(np.float32) if level > 0 else audio


def build_recorded_set(root: Path) -> dict:
    """`root`/ambient.f32 and recorded.json (where each file starts); written once."""
    meta_path = root / "recorded.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("version") == VERSION:
            return meta
    root.mkdir(parents=True, exist_ok=True)
    files: list[tuple[str, int, int]] = []  # (name, start sample, end sample)
    position = 0
    with open(root / "ambient.f32", "wb") as out:
        for url, sha256, members in SOURCES:
            with tarfile.open(_download(url, sha256, root)) as archive:
                for member, raw_rate in members.items():
                    handle = archive.extractfile(member)
                    if handle is None:
                        raise SystemExit(f"{url}: {member} is not a file")
                    audio = _samples(handle.read(), raw_rate)
                    out.write(audio.astype("<f4").tobytes())
                    files.append((member.rsplit("/", 1)[1], position, position + len(audio)))
                    position += len(audio)
    meta = {"version": VERSION, "ambient_samples": position, "files": files}
    meta_path.write_text(json.dumps(meta))
    return meta
