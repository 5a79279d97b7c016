"""The default model family: the streaming network on the micro frontend, command words in one model.

One network definition (kwtui.core.model.build_stream) serves training on whole clips and the device's stride by
stride run (kwtui.core.streaming); `kwtui convert` writes that streaming graph for kwtui's firmware with a threshold
and averaging window per keyword, which reach model.json, model.h and the partition image the firmware parses."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from kwtui.core.device.model_image import parse_model_image
from kwtui.core.io.layout import RunLayout
from kwtui.core.native import import_tensorflow_quietly
from tests.firmware.conftest import COMMANDS


@pytest.mark.parametrize("outputs, sigmoid", [(6, False), (1, True)], ids=["softmax_commands", "sigmoid_wake_word"])
def test_one_network_gives_the_same_outputs_streaming_and_on_whole_clips(outputs, sigmoid):
    import_tensorflow_quietly()
    import tensorflow as tf

    from kwtui.core.model import build_stream
    from kwtui.core.streaming import clip_strides, streaming_module

    model = build_stream(outputs, sigmoid, seed=3, input_shape=(98, 40, 1))
    rng = np.random.default_rng(4)
    clips = rng.uniform(0, 26, (6, 98, 40, 1)).astype(np.float32)
    whole = model.predict(clips, verbose=0)
    module, stride = streaming_module(model)
    assert stride == 3
    streamed = []
    for clip in clips:
        for variable in module.states:  # fresh state per clip, as the device at boot
            variable.assign(tf.zeros_like(variable))
        for block in clip_strides(clip[..., 0], stride):
            out = module(tf.constant(block[np.newaxis]))
        streamed.append(out.numpy()[0])
    assert np.allclose(np.asarray(streamed), whole, atol=1e-5)
    assert whole.shape == (6, outputs)


def test_a_threshold_per_keyword_reaches_model_json_model_h_and_the_partition_image(commands_run, tmp_path):
    from kwtui.core.stages.flash import model_image_from_run

    layout = RunLayout(commands_run)
    report = json.loads(layout.report_json.read_text())["operating_point"]
    meta = json.loads((layout.run_dir / "model.json").read_text())
    assert len(report["thresholds"]) == len(report["average_windows"]) == len(COMMANDS)
    assert set(report["per_keyword_points"]) == set(COMMANDS)
    assert meta["thresholds"] == report["thresholds"] and meta["average_windows"] == report["average_windows"]
    assert (meta["frontend"], meta["stride"], meta["hop_ms"]) == ("micro", 3, 30)
    assert meta["state_variables"] >= 1 and meta["labels"] == COMMANDS + ["_unknown", "_background"]
    header = (layout.run_dir / "model.h").read_text()
    written = re.search(r"kKeywordThresholds\[kNumKeywords\] = \{([^}]*)\}", header).group(1)
    assert [float(v.strip().rstrip("f")) for v in written.split(",")] == pytest.approx(report["thresholds"])
    assert "kMicroFrontend = true" in header and "kFeatureStride = 3" in header
    image = parse_model_image(model_image_from_run(layout))
    assert image.thresholds == pytest.approx(tuple(report["thresholds"]), abs=1e-6)
    assert image.average_windows == tuple(report["average_windows"])
    assert (image.frontend, image.stride, image.hop_ms) == ("micro", 3, 30)


def test_the_converted_model_is_the_streaming_graph_checked_against_the_whole_clip_model(commands_run):
    from kwtui.core.stages.esphome import describe_model

    layout = RunLayout(commands_run)
    meta = json.loads((layout.run_dir / "model.json").read_text())
    described = describe_model((layout.run_dir / "model.tflite").read_bytes())
    assert described["inputs"][0]["shape"] == [1, 3, 40] and described["outputs"][0]["shape"] == [1, 6]
    assert {"VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE", "CALL_ONCE"} <= set(described["ops"])
    check = meta["streaming_check"]
    assert check["clips"] == meta["test_clips"] and check["agreement"] >= 0.95


def test_a_commands_model_is_refused_by_the_esphome_export_with_one_line(commands_run, tmp_path):
    from kwtui.core.errors import UserError
    from kwtui.core.stages.esphome import check_preset

    with pytest.raises(UserError, match="one wake word per model") as refused:
        check_preset(commands_run)
    assert "\n" not in str(refused.value) and "kwtui flash" in str(refused.value)


def test_the_flashed_partition_of_a_commands_model_is_what_the_firmware_selects(commands_run, host_tools, tmp_path):
    """The image kwtui flashes, read by the firmware's own parser and model selection (host build)."""
    from kwtui.core.stages.flash import model_image_from_run

    path = tmp_path / "partition.bin"
    path.write_bytes(model_image_from_run(RunLayout(commands_run)) + b"\xff" * 4096)  # the rest stays erased
    done = subprocess.run([str(host_tools["model_image_host"]), str(path)], capture_output=True, text=True)
    fields = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    assert done.returncode == 0 and fields["selected"] == "partition" and fields["selected_usable"] == "1"
    assert (fields["frontend"], fields["stride"], fields["selected_classes"]) == ("1", "3", "6")
    meta = json.loads((Path(commands_run.run_dir) / "model.json").read_text())
    assert [float(fields[f"keyword{k}_threshold"]) for k in range(4)] == pytest.approx(meta["thresholds"], abs=1e-6)


def test_the_firmware_path_over_a_recording_gives_pythons_features_outputs_and_detections(
    commands_run, host_tools, tmp_path
):
    """A 20 s recording (tone bursts of the keywords between noise, as the model was trained) through the firmware's
    own code, stage by stage: its micro frontend (pinned ESPMicroSpeechFeatures, 64-bit so libm's log1pf is the one
    pymicro-features has), its streaming inference (-m32, pinned esp-tflite-micro + ESP-NN) fed from the flashed
    image, its per-keyword post-processing; against kwtui's Python path: equal features, identical outputs, the
    same detections."""
    from tflite_micro.python.tflite_micro import runtime

    from kwtui.core.data import micro_frontend
    from kwtui.core.postprocess import detect
    from kwtui.core.stages.flash import model_image_from_run
    from kwtui.core.streaming import stream_outputs
    from tests.firmware.test_postprocess_parity import cpp_detect
    from tests.helpers import firmware_runtime
    from tests.helpers.model import _KEYWORD_HZ, _tone_clip

    if firmware_runtime.available() is not None:
        pytest.skip(firmware_runtime.available())
    rng = np.random.default_rng(8)
    parts = []
    for k in range(20):
        clip = _tone_clip(rng, [_KEYWORD_HZ[k % 4]], 0.05) if k % 2 else 0.1 * rng.standard_normal(16000)
        parts.append(np.asarray(clip, np.float32))
    audio = np.clip(np.concatenate(parts), -1, 32767 / 32768)
    frontend = firmware_runtime.build_micro_features(m32=False)
    pcm = np.round(audio * 32768).astype("<i2").tobytes()  # what the microphone path hands both frontends
    done = subprocess.run([str(frontend)], input=pcm, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr[-500:]
    chip_slices = np.frombuffer(done.stdout, dtype=np.float32).reshape(-1, 40)
    python_slices = micro_frontend.FeatureStream().push(audio)
    assert np.array_equal(chip_slices, python_slices)

    layout = RunLayout(commands_run)
    image = tmp_path / "partition.bin"
    image.write_bytes(model_image_from_run(layout))
    parsed = parse_model_image(image.read_bytes())
    strides = python_slices[: len(python_slices) // 3 * 3].reshape(-1, 3, 40)
    chip = firmware_runtime.run_stream(firmware_runtime.build(), image, strides)
    assert chip.returncode == 0, chip.stdout[-500:] + chip.stderr[-500:]
    python = stream_outputs(runtime.Interpreter.from_bytes(parsed.model, arena_size=parsed.arena_size), strides)
    assert np.array_equal(chip.probabilities.astype(np.float32), python)

    labels = parsed.labels
    args = (list(parsed.average_windows), list(parsed.thresholds), parsed.refractory_ms)
    expected = detect(python, labels, list(range(parsed.num_keywords)), parsed.hop_ms, *args)
    got = cpp_detect(host_tools["postprocess_host"], python, labels, parsed.num_keywords, *args, parsed.hop_ms)
    assert [(d.class_index, d.time_ms) for d in expected] == [(g[0], g[3]) for g in got]
    print(f"{len(expected)} detections over {len(audio) / 16000:.0f} s, identical in C++ and Python")


def test_a_commands_model_flashed_into_the_simulated_esp32_boots_from_what_landed_in_flash(
    commands_run, host_tools, tmp_path
):
    """`kwtui flash` (the real esptool, public API) writes the streaming commands model into a simulated ESP32's
    flash (tests/helpers/esp32_sim.py: the ROM loader's and stub's protocol on a pseudo-terminal; no board here);
    the bytes read back from its model partition are what the firmware selects at boot, and its streaming inference
    starts from them with the image's arena."""
    import dataclasses

    from kwtui.core.device.partitions import read_partition_csv
    from kwtui.core.preset import save_preset
    from tests.firmware.conftest import FIRMWARE
    from tests.helpers import firmware_runtime
    from tests.helpers.corpus import kwtui
    from tests.helpers.esp32_sim import SimulatedEsp32

    if firmware_runtime.available() is not None:
        pytest.skip(firmware_runtime.available())
    preset = dataclasses.replace(commands_run, flash=dataclasses.replace(commands_run.flash, chip="esp32"))
    preset_file = save_preset(preset, tmp_path / "commands.toml")
    with SimulatedEsp32() as board:
        # --force: the tone model may detect fewer than half of its held-out clips (test_weak_models_are_refused)
        done = kwtui("flash", preset_file, "--port", board.port, "--force", timeout=180)
    assert done.returncode == 0, done.stderr[-1500:]
    offset, size = next(
        (p.offset, p.size) for p in read_partition_csv(FIRMWARE / "partitions.csv") if p.name == "model"
    )
    partition = tmp_path / "read_back.bin"
    partition.write_bytes(bytes(board.flash[offset : offset + size]))
    parsed = subprocess.run([str(host_tools["model_image_host"]), str(partition)], capture_output=True, text=True)
    fields = dict(line.split("=", 1) for line in parsed.stdout.splitlines() if "=" in line)
    assert fields["selected"] == "partition" and fields["frontend"] == "1" and fields["stride"] == "3"
    boot = firmware_runtime.run_stream(firmware_runtime.build(), partition, np.zeros((4, 3, 40), np.float32))
    assert boot.returncode == 0 and len(boot.probabilities) == 4, boot.stdout[-800:] + boot.stderr[-500:]
