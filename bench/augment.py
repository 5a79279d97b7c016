"""Where augmentation's time goes, per clip, on the same clips in the same run: speed perturbation by resampling
(kwtui's default) against pitch shift + time stretch by phase vocoder (audiomentations, the previous default); and
kwtui's numpy effects (gain, seven-band EQ, room reverb, coloured noise; each applied) against audiomentations'
Gain, SevenBandParametricEQ, ApplyImpulseResponse and AddColorNoise, which they replace.

Run: .venv/bin/python bench/augment.py [DATASET_WORD_FOLDER]   (default data/demo/yes; `kwtui demo-data` makes it)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np


def main() -> None:
    import audiomentations as am

    from kwtui.core.data.audio import load_clip
    from kwtui.core.features.augment import SPEED_RANGE, speed_perturb

    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "data/demo/yes")
    clips = [load_clip(p).samples for p in sorted(folder.glob("*.wav"))[:200]]
    if not clips:
        sys.exit(f"no clips in {folder}: run `kwtui demo-data data/demo` first")
    vocoder = am.Compose(
        [
            am.PitchShift(min_semitones=-2.0, max_semitones=2.0, p=1.0),
            am.TimeStretch(min_rate=0.85, max_rate=1.15, leave_length_unchanged=True, p=1.0),
        ]
    )
    started = time.perf_counter()
    for clip in clips:
        vocoder(samples=clip, sample_rate=16000)
    baseline = (time.perf_counter() - started) / len(clips)
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    for clip in clips:
        speed_perturb(clip, float(rng.uniform(*SPEED_RANGE)))
    speed = (time.perf_counter() - started) / len(clips)
    print(f"{len(clips)} clips of {folder}")
    print(f"pitch shift + time stretch (phase vocoder, baseline): {baseline * 1000:.2f} ms per clip")
    print(f"speed perturbation by resampling (soxr):              {speed * 1000:.2f} ms per clip")
    print(f"ratio: {baseline / speed:.1f}x faster")

    import tempfile

    from kwtui.core.features import effects
    from kwtui.core.features.augment import write_impulse_responses

    with tempfile.TemporaryDirectory() as folder:
        rooms_dir = write_impulse_responses(Path(folder) / "rooms")
        names = sorted(str(p) for p in rooms_dir.glob("room_*.wav"))
        library = am.Compose(
            [
                am.Gain(p=1.0),
                am.SevenBandParametricEQ(p=1.0),
                am.ApplyImpulseResponse(ir_path=names, p=1.0, leave_length_unchanged=True),
                am.AddColorNoise(min_snr_db=10.0, max_snr_db=10.0, p=1.0),
            ]
        )
        rooms = effects.load_rooms(str(rooms_dir))
        started = time.perf_counter()
        for clip in clips:
            library(samples=clip, sample_rate=16000)
        before = (time.perf_counter() - started) / len(clips)
        started = time.perf_counter()
        for clip in clips:
            y = effects.reverberate(effects.equalize(clip * np.float32(0.5), rng), rooms[int(rng.integers(len(rooms)))])
            y = y + 0.1 * effects.colored_noise(len(y), rng)
        after = (time.perf_counter() - started) / len(clips)
    print(f"gain + EQ + reverb + coloured noise, audiomentations (baseline): {before * 1000:.2f} ms per clip")
    print(f"the same four, kwtui's numpy effects:                           {after * 1000:.2f} ms per clip")
    print(f"ratio: {before / after:.1f}x faster")


if __name__ == "__main__":
    main()
