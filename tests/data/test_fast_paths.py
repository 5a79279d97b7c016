"""The fast paths of feature generation give what the plain ones give: numpy PCM16 reader vs libsndfile,
resampler quality (libsoxr), per-thread spectrogram buffers, single-threaded pool workers."""

from __future__ import annotations

import os
import struct
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import soundfile as sf

from kwtui.core.data import spectrogram as spec
from kwtui.core.data.audio import load_audio, read_pcm16, resample


def _with_list_chunk(path):
    """Rewrite a plain wav with a LIST chunk (odd length, so padded) between fmt and data."""
    data = path.read_bytes()
    fmt_end = 12 + 8 + int.from_bytes(data[16:20], "little")
    extra = b"LIST" + struct.pack("<I", 5) + b"INFO!" + b"\0"
    body = data[12:fmt_end] + extra + data[fmt_end:]
    path.write_bytes(b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body)


@pytest.fixture(scope="module")
def wavs(tmp_path_factory):
    root = tmp_path_factory.mktemp("wavs")
    rng = np.random.default_rng(5)
    speechy = (rng.normal(0, 0.2, 16000) * np.hanning(16000)).astype(np.float32)
    files = {}
    for name, data, rate, kwargs in [
        ("mono16k", speechy, 16000, {"subtype": "PCM_16"}),
        ("mono22k", rng.normal(0, 0.2, 22050), 22050, {"subtype": "PCM_16"}),
        ("stereo", np.stack([speechy, -0.5 * speechy], axis=1), 16000, {"subtype": "PCM_16"}),
        ("clipped", np.concatenate([np.full(100, 1.5), np.full(100, -1.5)]), 16000, {"subtype": "PCM_16"}),
        ("pcm24", speechy, 16000, {"subtype": "PCM_24"}),
        ("float", speechy, 16000, {"subtype": "FLOAT"}),
        ("extensible", np.stack([speechy] * 3, axis=1), 16000, {"subtype": "PCM_16", "format": "WAVEX"}),
    ]:
        files[name] = root / f"{name}.wav"
        sf.write(files[name], data, rate, **kwargs)
    files["listchunk"] = root / "listchunk.wav"
    sf.write(files["listchunk"], speechy, 16000, subtype="PCM_16")
    _with_list_chunk(files["listchunk"])
    full = files["mono16k"].read_bytes()
    files["truncated_odd"] = root / "truncated_odd.wav"
    files["truncated_odd"].write_bytes(full[: 44 + 12001])  # header says 1 s; half a sample at the end
    return files


@pytest.mark.parametrize("name", ["mono16k", "mono22k", "stereo", "clipped", "listchunk", "truncated_odd"])
def test_pcm16_reader_gives_libsndfile_values(wavs, name):
    fast = read_pcm16(wavs[name])
    assert fast is not None, "plain PCM16 must take the numpy path"
    expected, rate = sf.read(wavs[name], dtype="float32", always_2d=True)
    assert fast[1] == rate and fast[0].dtype == np.float32
    np.testing.assert_array_equal(fast[0], expected)


@pytest.mark.parametrize("name", ["pcm24", "float", "extensible"])
def test_other_formats_fall_back_to_libsndfile(wavs, name):
    assert read_pcm16(wavs[name]) is None
    samples = load_audio(wavs[name]).samples
    expected = sf.read(wavs[name], dtype="float32", always_2d=True)[0].mean(axis=1)
    np.testing.assert_array_equal(samples, expected)


def test_load_audio_downmixes_and_notes_like_before(wavs):
    audio = load_audio(wavs["stereo"])
    expected = sf.read(wavs["stereo"], dtype="float32", always_2d=True)[0].mean(axis=1)
    np.testing.assert_array_equal(audio.samples, expected)
    assert audio.notes == ["downmixed 2 channels"]
    assert load_audio(wavs["mono22k"]).notes == ["resampled 22050 Hz"]


def _tone(rate: int, hz: float, seconds: float = 1.0, amplitude: float = 0.5) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * hz * np.arange(int(rate * seconds)) / rate)).astype(np.float32)


@pytest.mark.parametrize("rate", [22050, 44100, 48000, 8000])
def test_resampled_tone_keeps_amplitude_and_frequency(rate):
    out = resample(_tone(rate, 1000.0), rate)
    assert out.dtype == np.float32 and out.shape == (16000,)
    # away from the edges (where any FIR resampler starts and ends) the tone is the same to 1e-3
    np.testing.assert_allclose(out[400:-400], _tone(16000, 1000.0)[400:-400], atol=1e-3)
    # a tone that does not fit whole cycles in the clip: right peak frequency and level
    out = resample(_tone(rate, 1234.5), rate)
    spectrum = np.abs(np.fft.rfft(out * np.hanning(len(out))))
    assert abs(np.argmax(spectrum) - 1234.5) <= 1.0
    assert np.sqrt(np.mean(out[2000:-2000] ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.01)


@pytest.mark.parametrize("rate", [22050, 44100, 48000])
def test_resampling_rejects_aliases(rate):
    """Content above 8 kHz must not fold back into the band the features see."""
    for hz in (9000.0, 10500.25, rate / 2 - 500):
        out = resample(_tone(rate, hz), rate)
        in_band = np.abs(np.fft.rfft(out[1000:-1000] * np.hanning(14000)))[: 7800 * 14000 // 16000]
        assert 20 * np.log10(in_band.max() / (0.5 * 14000 / 4) + 1e-12) < -40, hz


def test_resampling_is_deterministic():
    x = np.random.default_rng(1).normal(0, 0.3, 22050).astype(np.float32)
    assert resample(x, 22050).tobytes() == resample(x.copy(), 22050).tobytes()


def test_spectrogram_buffers_are_per_thread():
    rng = np.random.default_rng(2)
    clips = [rng.normal(0, 0.1 * (i + 1), 16000).astype(np.float32) for i in range(16)]
    expected = [spec.spectrogram(c) for c in clips]
    with ThreadPoolExecutor(4) as pool:
        for _ in range(5):
            for got, want in zip(pool.map(spec.spectrogram, clips), expected):
                assert got.tobytes() == want.tobytes()


def test_pool_workers_are_single_threaded():
    from threadpoolctl import threadpool_info

    from kwtui.core.features.pool import make_pool

    config = {"time_shift_ms": 0, "noise_volume": (0.0, 0.0), "train_noise": [], "parent_pid": os.getpid()}
    with make_pool(1, config) as pool:
        pools = pool.submit(threadpool_info).result(timeout=60)
        env = [
            pool.submit(os.getenv, name).result(timeout=60)
            for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
        ]
    assert pools and all(p["num_threads"] == 1 for p in pools), pools
    assert env == ["1", "1", "1"]


def test_a_long_clip_is_cropped_to_its_loudest_second_without_decoding_it_whole(tmp_path, monkeypatch):
    import soundfile as sf

    from kwtui.core.data import audio

    monkeypatch.setattr(audio, "BLOCK_SECONDS", 3)  # several blocks, the loud second across a block join
    rate = 44100
    rng = np.random.default_rng(3)
    x = 0.01 * rng.standard_normal((rate * 30, 2)).astype(np.float32)
    loud_at = int(rate * 20.5)  # 20.5 s: spans the join between blocks 6 and 7 (at 21 s)
    x[loud_at : loud_at + rate] += _tone(rate, 700.0)[:, None]
    path = tmp_path / "long.wav"
    sf.write(path, x, rate, subtype="FLOAT")
    clip = audio.load_clip(path)
    assert clip.samples.shape == (16000,) and any("loudest 1 s" in n for n in clip.notes)
    spectrum = np.abs(np.fft.rfft(clip.samples))
    assert abs(int(np.argmax(spectrum)) - 700) <= 2  # the tone's second was found
    assert np.sqrt(np.mean(clip.samples[200:-200] ** 2)) > 0.3
