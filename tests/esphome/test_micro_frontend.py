"""The micro frontend (features.frontend = "micro") and the preset rules around it."""

from __future__ import annotations

import numpy as np
import pytest

from kwtui.core.data import micro_frontend
from kwtui.core.data.frontends import FRONTENDS
from kwtui.core.preset import PresetError, from_dict


def _speechlike(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    return (0.3 * envelope * np.sin(2 * np.pi * (200 + 100 * t) * t) + 0.01 * rng.normal(size=t.size)).astype(
        np.float32
    )


def test_clip_features_are_what_esphome_host_runtime_computes():
    from pymicro_wakeword import MicroWakeWordFeatures

    audio = _speechlike(1.0)
    ours = micro_frontend.micro_features(audio)
    pcm = np.round(np.clip(audio, -1, 32767 / 32768) * 32768).astype("<i2").tobytes()
    theirs = np.concatenate([f.reshape(1, -1) for f in MicroWakeWordFeatures().process_streaming(pcm)])
    assert ours.shape == (98, 40) == FRONTENDS["micro"].shape and ours.dtype == np.float32
    np.testing.assert_array_equal(ours, theirs.astype(np.float32))
    assert 0 <= ours.min() and ours.max() <= 27  # ~0-26: what ESPHome's fixed input quantization covers


@pytest.mark.parametrize("chunk", [1, 159, 160, 1000, 4801])
def test_a_stream_gives_the_same_slices_however_it_is_cut(chunk):
    audio = _speechlike(3.0, seed=1)
    whole = micro_frontend.FeatureStream().push(audio)
    stream = micro_frontend.FeatureStream()
    pieces = np.concatenate([stream.push(audio[i : i + chunk]) for i in range(0, len(audio), chunk)])
    np.testing.assert_array_equal(pieces, whole)
    assert len(whole) == (len(audio) - 480) // 160 + 1


def _preset(**sections):
    data = {
        "classes": {"keywords": ["marvin"], "unknown": False, "background": False},
        "features": {"frontend": "micro"},
        "train": {"model": "stream"},
        "evaluate": {"hop_ms": 30},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return from_dict(data)


def test_the_esphome_preset_rules_name_the_field():
    assert _preset().features.frontend == "micro"
    cases = [
        ({"train": {"model": "cnn"}}, "train.model"),
        ({"features": {"frontend": "spectrogram"}}, "train.model"),
        ({"evaluate": {"hop_ms": 60}}, "evaluate.hop_ms: the streaming model runs once per stride of 30 ms"),
        ({"evaluate": {"hop_ms": 25}}, "evaluate.hop_ms"),
        ({"features": {"frontend": "mfcc"}}, "features.frontend"),
    ]
    for change, words in cases:
        with pytest.raises(PresetError) as caught:
            _preset(**change)
        assert words in str(caught.value), (change, str(caught.value))


def test_the_features_stage_makes_micro_features_resumably(demo_dataset, tmp_path):
    """The same machinery as the spectrogram (pool, one writer, variants with augmentation, resume): every file
    (98, 40); a second run writes nothing; a deleted file is made again, identical."""
    from kwtui.core.events import CancelToken
    from kwtui.core.features.store import load_feature
    from kwtui.core.stages.features import run_features

    preset = _preset(features={"variants": 1, "workers": 2})
    preset.dataset.path = str(demo_dataset)
    preset.run_dir = str(tmp_path / "run")
    first = run_features(preset, lambda event: None, CancelToken())
    files = sorted((tmp_path / "run" / "features").rglob("*.npy"))
    assert first["files_written"] == len(files) > 100
    assert any("__v" in p.name for p in files)  # augmented variants
    assert {load_feature(p).shape for p in files} == {(98, 40)}
    victim = next(p for p in files if "__v" in p.name)
    before = victim.read_bytes()
    victim.unlink()
    again = run_features(preset, lambda event: None, CancelToken())
    assert again["files_written"] == 1 and victim.read_bytes() == before
