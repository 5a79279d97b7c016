"""`kwtui detect` and `kwtui listen`: the deployed detector on the host equals the firmware's own inference and
post-processing over recordings; --scores, bounded memory on long files, the live loop at real-time pace."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from kwtui.core.device.model_image import parse_model_image
from kwtui.core.io.layout import RunLayout
from tests.helpers.corpus import kwtui

KEYWORD_AT_S = [1.0, 4.0, 7.0, 10.0, 13.0, 16.0, 19.0, 22.0]  # each keyword clip starts here, noise between


def _recording(path: Path, seed: int = 8) -> tuple[np.ndarray, list[tuple[str, float]]]:
    """25 s: quiet noise with a tone-burst keyword clip (as the model was trained) at each KEYWORD_AT_S."""
    from tests.firmware.conftest import COMMANDS
    from tests.helpers.model import _KEYWORD_HZ, _tone_clip

    rng = np.random.default_rng(seed)
    audio = (0.01 * rng.standard_normal(25 * 16000)).astype(np.float32)
    truth = []
    for k, start in enumerate(KEYWORD_AT_S):
        clip = np.asarray(_tone_clip(rng, [_KEYWORD_HZ[k % 4]], 0.05), np.float32)
        at = int(start * 16000)
        audio[at : at + len(clip)] += clip
        truth.append((COMMANDS[k % 4], start))
    audio = np.clip(audio, -1, 32767 / 32768)
    sf.write(path, audio, 16000, subtype="PCM_16")
    return sf.read(path, dtype="float32")[0], truth


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_detect_equals_the_firmware_inference_and_post_processing(commands_run, host_tools, tmp_path):
    """The recording through `kwtui detect` (the CLI, a run folder as TARGET) against the firmware's code: its
    streaming inference (-m32, pinned esp-tflite-micro + ESP-NN) fed from the partition image kwtui flashes, then
    its per-keyword post-processing (C++). Same detections at the same inference, raw scores equal."""
    from kwtui.core.data import micro_frontend
    from kwtui.core.stages.flash import model_image_from_run
    from tests.firmware.test_postprocess_parity import cpp_detect
    from tests.helpers import firmware_runtime

    if firmware_runtime.available() is not None:
        pytest.skip(firmware_runtime.available())
    audio, truth = _recording(tmp_path / "kitchen.wav")
    layout = RunLayout(commands_run)
    done = kwtui(
        "detect", layout.run_dir, tmp_path / "kitchen.wav", "--json", "--scores", tmp_path / "scores", timeout=300
    )
    assert done.returncode == 0, done.stderr[-1500:]
    events = _json_lines(done.stdout)
    found = [e for e in events if e["event"] == "detection"]
    summary = [e for e in events if e["event"] == "summary"]
    assert len(summary) == 1 and summary[0]["detections"] == len(found)
    assert summary[0]["seconds"] == pytest.approx(25.0) and summary[0]["hop_ms"] == 30

    image = tmp_path / "partition.bin"
    image.write_bytes(model_image_from_run(layout))
    parsed = parse_model_image(image.read_bytes())
    slices = micro_frontend.FeatureStream().push(audio)
    strides = slices[: len(slices) // 3 * 3].reshape(-1, 3, 40)
    chip = firmware_runtime.run_stream(firmware_runtime.build(), image, strides)
    assert chip.returncode == 0, chip.stdout[-500:] + chip.stderr[-500:]
    outputs = chip.probabilities.astype(np.float32)
    args = (list(parsed.average_windows), list(parsed.thresholds), parsed.refractory_ms)
    chip_hits = cpp_detect(
        host_tools["postprocess_host"], outputs, parsed.labels, parsed.num_keywords, *args, parsed.hop_ms
    )

    def inference_of(time_s: float) -> int:  # detect reports the end of the audio the inference had heard
        return int(round((time_s * 16000 - micro_frontend.WINDOW_SAMPLES) / micro_frontend.STEP_SAMPLES + 1)) // 3 - 1

    assert [(e["keyword"], inference_of(e["time_s"])) for e in found] == [
        (parsed.labels[g[0]], int(round(g[3] / parsed.hop_ms))) for g in chip_hits
    ]
    assert found, "the recording's keywords should be detected"
    hit_times = [e["time_s"] for e in found if e["keyword"] != "_unknown"]
    detected = [(word, start) for word, start in truth if any(start < t < start + 1.8 for t in hit_times)]
    assert len(detected) >= len(truth) // 2, (truth, found)

    with open(tmp_path / "scores" / "kitchen.scores.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["time_s", *parsed.labels]
    table = np.asarray(rows[1:], dtype=np.float64)
    assert len(table) == len(outputs)
    assert np.allclose(np.diff(table[:, 0]), 0.03, atol=1e-6)
    assert np.allclose(table[:, 1:], outputs, atol=1e-6)


def test_detect_thresholds_override_and_each_file_starts_fresh(commands_run, tmp_path):
    _recording(tmp_path / "a.wav")
    _recording(tmp_path / "b.wav")
    run_dir = RunLayout(commands_run).run_dir
    both = _json_lines(kwtui("detect", run_dir, tmp_path / "a.wav", tmp_path / "b.wav", "--json").stdout)
    summaries = [e for e in both if e["event"] == "summary"]
    assert [Path(s["file"]).name for s in summaries] == ["a.wav", "b.wav"]
    per_file = {
        Path(s["file"]).name: [
            (e["keyword"], e["time_s"]) for e in both if e["event"] == "detection" and e["file"] == s["file"]
        ]
        for s in summaries
    }
    assert per_file["a.wav"] == per_file["b.wav"]  # the same audio from a fresh device: the same detections
    strict = _json_lines(
        kwtui("detect", run_dir, tmp_path / "a.wav", "--json", "--threshold", "0.999", "--window", "16").stdout
    )
    assert strict[-1]["thresholds"] == [0.999] * 4 and strict[-1]["average_window"] == [16] * 4
    assert strict[-1]["detections"] <= summaries[0]["detections"]


def test_detect_refuses_bad_input_with_one_line(commands_run, tmp_path):
    run_dir = RunLayout(commands_run).run_dir
    (tmp_path / "notes.txt").write_text("not audio")
    cases = [
        ((run_dir, tmp_path / "missing.wav"), "missing.wav: no such audio file"),
        ((run_dir, tmp_path / "notes.txt"), "notes.txt: not readable audio"),
        ((tmp_path, tmp_path / "notes.txt"), "no model.json"),
        ((run_dir, tmp_path / "notes.txt", "--threshold", "1.5"), "--threshold 1.5"),
    ]
    for args, expected in cases:
        done = kwtui("detect", *args)
        assert done.returncode == 2, (args, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and expected in lines[0] and "Traceback" not in done.stderr, (args, done.stderr)


MEMORY_SCRIPT = """
import resource, sys
from pathlib import Path
from kwtui.core.detect import detect_file, load_detector
detector = load_detector(sys.argv[1])
result = detect_file(detector, Path(sys.argv[2]))
print(result.seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


@pytest.mark.slow
def test_a_long_recording_is_streamed_in_bounded_memory(commands_run, tmp_path):
    """One hour at 22.05 kHz (a 159 MB file; its 16 kHz float audio would be 230 MB): peak memory no higher than
    for one minute of the same, give or take 40 MB; every block is resampled and scored, then dropped."""
    run_dir = RunLayout(commands_run).run_dir
    rng = np.random.default_rng(1)
    minute = (0.05 * rng.standard_normal(22050 * 60)).astype(np.float32)
    with sf.SoundFile(tmp_path / "long.wav", "w", 22050, 1, "PCM_16") as out:
        for _ in range(60):
            out.write(minute)
    sf.write(tmp_path / "short.wav", minute, 22050, subtype="PCM_16")
    peaks = {}
    for name in ("short", "long"):
        done = subprocess.run(
            [sys.executable, "-c", MEMORY_SCRIPT, str(run_dir), str(tmp_path / f"{name}.wav")],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-1500:]
        seconds, peak_kb = done.stdout.split()
        peaks[name] = int(peak_kb) / 1024
        assert float(seconds) == pytest.approx(60 if name == "short" else 3600, abs=0.01)
    assert peaks["long"] - peaks["short"] < 40, peaks


def test_listen_runs_the_same_loop_fed_at_real_time_pace(commands_run, tmp_path):
    """`kwtui listen`'s loop fed a recording 0.1 s at a time at the pace a microphone delivers it: the same
    detections as `kwtui detect` over the file, and it keeps up (finishes within the recording's length + 2 s)."""
    from kwtui.cli.detect_cmds import listen_loop
    from kwtui.core.detect import audio_blocks, detect_file, load_detector
    from kwtui.core.events import CancelToken

    audio, _ = _recording(tmp_path / "live.wav")
    detector = load_detector(RunLayout(commands_run).run_dir)
    expected = [(h.keyword, h.time_s) for h in detect_file(detector, tmp_path / "live.wav").hits]
    heard: list = []
    scores: list = []
    started = time.monotonic()

    def microphone():
        for k, block in enumerate(audio_blocks(tmp_path / "live.wav", block_seconds=0.1)):
            delay = started + k * 0.1 - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            yield block

    listen_loop(detector, microphone(), heard.append, scores.append, CancelToken())
    elapsed = time.monotonic() - started
    assert [(h.keyword, h.time_s) for h in heard] == expected and expected
    assert len(audio) / 16000 - 0.2 <= elapsed < len(audio) / 16000 + 2
    assert set(scores[-1]) == {"yes", "no", "left", "right"}


def test_listen_without_an_audio_input_says_so_in_one_line(commands_run):
    """No PortAudio or no input device (SSH, CI): one line that points to `kwtui detect`, exit 2."""
    done = kwtui("listen", RunLayout(commands_run).run_dir, timeout=120)
    try:
        import sounddevice as sd

        sd.query_devices(kind="input")
        pytest.skip("this machine has an audio input")
    except Exception:  # noqa: BLE001 - no PortAudio (OSError), no device (PortAudioError, ValueError)
        pass
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "no audio input" in lines[0] and "kwtui detect" in lines[0]


def test_the_wizard_tries_the_model_on_a_recording_and_keeps_a_threshold_picked_from_it(commands_run, tmp_path):
    """The Evaluate step's Try it (a Textual pilot): a recording through the converted model shows a timeline
    per keyword with the detections `kwtui detect` finds; ] raises the threshold on the same scores (fewer or
    as many detections); "Use this threshold" makes it the preset's operating point, picked by hand."""
    import asyncio

    from kwtui.core.detect import detect_file, load_detector
    from kwtui.tui.app import create_app
    from tests.tui.pilot_utils import focus, press_button, wait_until

    _recording(tmp_path / "try.wav")
    run_dir = RunLayout(commands_run).run_dir
    expected = detect_file(load_detector(run_dir), tmp_path / "try.wav").hits

    async def scenario() -> None:
        app = create_app(commands_run)
        async with app.run_test(size=(120, 50)) as pilot:
            app.go_to(next(i for i, s in enumerate(app.steps) if s.step_id == "evaluate"))
            await pilot.pause()
            path_box = app.query_one("#try-path")
            # the text typed must show: a bordered input in the one-row line showed only its top edge
            assert path_box.parent.region.contains_region(path_box.content_region), path_box.region
            path_box.value = str(tmp_path / "try.wav")
            await press_button(pilot, "try-run")
            tryit = app.query_one("#try-it")
            await wait_until(pilot, lambda: tryit.thresholds != [], 120, "the try-it run")
            status = str(app.query_one("#try-status").render())
            assert "try.wav, " in status and f"{len(expected)} detection(s)" in status, status
            assert "^" in str(app.query_one("#try-plot").render()) and "thr " in str(
                app.query_one("#try-plot").render()
            )
            before = list(tryit.thresholds)
            await focus(pilot, "try-use")
            await pilot.press("right_square_bracket")
            await pilot.pause()
            assert tryit.thresholds == [round(t + 0.05, 2) for t in before]
            await press_button(pilot, "try-use")
            await pilot.pause()
            assert app.form.get("evaluate.threshold") == pytest.approx(tryit.thresholds[0])
            assert app.form.get("evaluate.target_fa_per_hour") == 0.0

    asyncio.run(scenario())
