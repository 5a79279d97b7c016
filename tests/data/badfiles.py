"""A small dataset with every kind of bad wav, built from real demo clips (used by scan and features tests)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import soundfile as sf

# file (under yes/) -> what the features stage must do with it
BAD_CLIPS = {
    "truncated_nohash_0.wav": "converted",  # data cut off mid-file: read what is there, pad
    "empty_nohash_0.wav": "skipped",  # 0 bytes
    "noframes_nohash_0.wav": "skipped",  # a valid header, no samples
    "notaudio_nohash_0.wav": "skipped",  # text with a .wav name
    "eightbit_nohash_0.wav": "ok",  # 8-bit PCM: readable as is
    "stereo_nohash_0.wav": "converted",  # downmixed
    "rate44k_nohash_0.wav": "converted",  # resampled
    "long3s_nohash_0.wav": "converted",  # cropped to its loudest second
    "silent_nohash_0.wav": "skipped",  # all zeros
}


def make_bad_dataset(demo_dataset: Path, root: Path) -> Path:
    root.mkdir(parents=True)
    for word in ("yes", "no", "up"):
        (root / word).mkdir()
        for src in sorted((demo_dataset / word).glob("*.wav"))[:6]:
            shutil.copy(src, root / word / src.name)
    speech, rate = sf.read(sorted((demo_dataset / "yes").glob("*.wav"))[0], dtype="float32")
    speech16 = np.interp(np.arange(16000) * rate / 16000, np.arange(len(speech)), speech).astype(np.float32)
    yes = root / "yes"
    full = yes / "full.wav"
    sf.write(full, speech16, 16000, subtype="PCM_16")
    data = full.read_bytes()
    (yes / "truncated_nohash_0.wav").write_bytes(data[: 44 + 12000])  # header says 1 s, 0.375 s present
    full.unlink()
    (yes / "empty_nohash_0.wav").write_bytes(b"")
    sf.write(yes / "noframes_nohash_0.wav", np.zeros(0, dtype=np.float32), 16000, subtype="PCM_16")
    (yes / "notaudio_nohash_0.wav").write_text("this is not a wav file\n" * 50)
    sf.write(yes / "eightbit_nohash_0.wav", speech16, 16000, subtype="PCM_U8")
    sf.write(yes / "stereo_nohash_0.wav", np.stack([speech16, 0.5 * speech16], axis=1), 16000, subtype="PCM_16")
    t44 = np.arange(44100) * rate / 44100
    sf.write(yes / "rate44k_nohash_0.wav", np.interp(t44, np.arange(len(speech)), speech), 44100, subtype="PCM_16")
    sf.write(
        yes / "long3s_nohash_0.wav",
        np.concatenate([np.zeros(16000), speech16, np.zeros(16000)]),
        16000,
        subtype="PCM_16",
    )
    sf.write(yes / "silent_nohash_0.wav", np.zeros(16000), 16000, subtype="PCM_16")
    (yes / "notes.txt").write_text("a stray file\n")
    (root / "empty_word").mkdir()
    (root / "_background_noise_").mkdir()
    noise = np.random.default_rng(0).normal(0, 0.2, 16000 * 12).astype(np.float32)
    sf.write(root / "_background_noise_" / "noise.wav", noise, 16000, subtype="PCM_16")
    (root / "validation_list.txt").write_text("no/missing_nohash_0.wav\n")
    return root
