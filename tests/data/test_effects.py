"""The numpy effects of augmented variants: each does what it says, a seed decides everything, and a feature
worker making augmented variants never imports scipy (it cost each worker ~80 MB with audiomentations)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from kwtui.core.features import effects

RATE = 16_000


def _band_power(x: np.ndarray, low: float, high: float) -> float:
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / RATE)
    return float(spectrum[(freqs >= low) & (freqs < high)].mean())


def test_coloured_noise_falls_or_rises_by_its_slope():
    slopes = []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        decay = np.random.default_rng(seed).uniform(*effects.NOISE_DECAY_DB_PER_OCTAVE)
        noise = effects.colored_noise(RATE, rng)
        assert abs(float(np.sqrt(np.mean(noise**2))) - 1.0) < 1e-3
        measured = 10 * np.log10(_band_power(noise, 2000, 2400) / _band_power(noise, 500, 600))  # two octaves
        slopes.append((decay, measured / 2))
    for decay, measured in slopes:
        assert abs(decay - measured) < 1.0, slopes
    assert min(d for d, _ in slopes) < -3 and max(d for d, _ in slopes) > 3


def test_equalizer_changes_bands_by_at_most_its_gains_and_keeps_the_length():
    x = np.random.default_rng(0).standard_normal(RATE).astype(np.float32)
    for seed in range(10):
        y = effects.equalize(x, np.random.default_rng(seed))
        assert y.shape == x.shape and y.dtype == np.float32
        for low, high in ((100, 200), (1000, 2000), (5000, 7000)):
            change_db = 10 * np.log10(_band_power(y, low, high) / _band_power(x, low, high))
            assert abs(change_db) <= 2 * effects.EQ_GAIN_DB[1] + 1  # overlapping bands add up, never beyond two
    assert not np.allclose(effects.equalize(x, np.random.default_rng(1)), x)


def test_a_room_of_one_direct_path_leaves_the_clip_as_it_is_and_a_long_one_adds_a_tail():
    x = np.zeros(RATE, np.float32)
    x[1000] = 1.0
    assert np.allclose(effects.reverberate(x, np.array([1.0], np.float32)), x, atol=1e-6)
    tail = np.exp(-np.arange(4000) / 800).astype(np.float32)
    wet = effects.reverberate(x, tail)
    assert len(wet) == RATE and abs(wet[1000 + 800] - np.exp(-1)) < 1e-4 and abs(wet[999]) < 1e-5


def test_the_same_generator_state_gives_the_same_variant():
    x = np.random.default_rng(3).standard_normal(RATE).astype(np.float32) * 0.1
    rooms = [np.exp(-np.arange(2000) / 300).astype(np.float32)]
    first = [effects.apply(x, np.random.default_rng(s), rooms) for s in range(30)]
    again = [effects.apply(x, np.random.default_rng(s), rooms) for s in range(30)]
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert sum(not np.array_equal(a, x) for a in first) > 10  # most variants are changed by something


def test_making_augmented_variants_imports_no_scipy(tmp_path):
    code = (
        "import sys, numpy as np\n"
        "from kwtui.core.features.augment import Augmenter, write_impulse_responses\n"
        f"rooms = write_impulse_responses(__import__('pathlib').Path({str(tmp_path)!r}) / 'rooms')\n"
        "config = {'augment': True, 'ir_dir': str(rooms), 'time_shift_ms': 100, 'noise_snr_db': (0, 20),\n"
        "          'train_noise': [], 'train_speech': []}\n"
        "augment = Augmenter(config, None)\n"
        "x = np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32)\n"
        "[augment(x, seed) for seed in range(50)]\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('scipy', 'librosa', 'audiomentations'))\n"
        "print(heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout
