"""Training behaviour: resume from the saved epoch, cancel within one batch, disk full during a checkpoint,
final fit on all data, the DS-CNN and single-sigmoid models, and the firmware op check."""

from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest

from kwtui.core import events as ev
from kwtui.core.errors import Cancelled, KwtuiError
from kwtui.core.io import records
from kwtui.core.io.layout import RunLayout
from kwtui.core.model import balanced_accuracy
from kwtui.core.preset import from_dict
from kwtui.core.stages.convert import FIRMWARE_OPS, check_firmware_ops, model_ops, run_convert
from kwtui.core.stages.evaluate import run_evaluate
from kwtui.core.stages.train import run_train
from kwtui.core.tflite.converter import to_tflite
from tests.helpers.model import collect_events, make_tone_store

SMALL = (16, 6, 6)


def _with(preset, **sections):
    data = preset.to_dict()
    for section, values in sections.items():
        if isinstance(values, dict):
            data[section].update(values)
        else:
            data[section] = values
    return from_dict(data)


def _rows(layout):
    with layout.history.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _history_epochs(layout):
    with layout.history.open() as handle:
        return [int(row["epoch"]) for row in csv.DictReader(handle)]


def test_resume_continues_from_the_saved_epoch_and_final_fit_is_labelled(tmp_path):
    preset = make_tone_store(tmp_path / "run", per_class=SMALL, train={"epochs": 2})
    layout = RunLayout(preset)
    first = run_train(preset, ev.ignore, ev.CancelToken())
    assert first["epochs_done"] == 2 and first["resumed_from_epoch"] == 0
    best_before = json.loads(layout.train_state.read_text())["best"]

    stale = layout.checkpoints_dir / ".kwtui-tmp-999999999-0badc0de-last.keras"  # left by a killed run (dead pid)
    stale.write_bytes(b"half a zip")
    longer = _with(preset, train={"epochs": 4, "final_fit_all": 1})
    report = collect_events()
    second = run_train(longer, report, ev.CancelToken(), resume=True)
    assert second["resumed_from_epoch"] == 2 and second["epochs_done"] == 4
    epochs = list(dict.fromkeys(e.epoch for e in report.events if isinstance(e, ev.Metric) and e.step is None))
    assert epochs == [3, 4, 1]  # the resumed epochs only, then the final fit's own epoch 1
    # the progress is the whole job's, as the features stage's: a Resume's bar starts at the epochs done (it counted
    # only the epochs left: 4 % at epoch 78 of 200)
    progress = [
        e for e in report.events if isinstance(e, ev.Progress) and e.stage == "train" and "final" not in e.message
    ]
    total = progress[0].total
    assert total and progress[0].done == total // 2 and progress[-1].done == total  # 2 of 4 epochs, then all 4
    assert _history_epochs(layout) == [1, 2, 3, 4]
    assert not stale.exists()
    state = json.loads(layout.train_state.read_text())
    assert state["best"]["val_balanced_accuracy"] >= best_before["val_balanced_accuracy"]  # never a worse one

    assert layout.final_model.exists()
    assert "not held-out" in second["final_model_note"]
    summary = run_evaluate(longer, ev.ignore, ev.CancelToken())
    assert summary["test_held_out"] is False
    assert "NOTE: final-fit-all model" in layout.report_txt.read_text()


def test_the_best_epoch_is_the_most_balanced_not_the_one_that_calls_everything_unknown(tmp_path):
    """Validation clips mostly `_unknown`: a model that calls every clip `_unknown` is 90 % accurate and detects
    nothing (the demo's untrained epoch 1 was kept so: 0.74 accurate, every keyword missed); the best epoch is the
    one with the highest mean recall over classes."""
    labels = np.array([0] * 8 + [1] * 8 + [2] * 143)
    all_unknown = np.full_like(labels, 2)
    learnt = labels.copy()
    learnt[:2], learnt[20:60] = 2, 0  # two keywords missed, forty other words taken for the first keyword
    assert np.mean(all_unknown == labels) > np.mean(learnt == labels)
    assert balanced_accuracy(labels, all_unknown) == pytest.approx(1 / 3)
    assert balanced_accuracy(labels, learnt) > 0.8

    preset = make_tone_store(tmp_path / "run", per_class=SMALL, train={"epochs": 3})
    layout = RunLayout(preset)
    summary = run_train(preset, ev.ignore, ev.CancelToken())
    with layout.history.open() as handle:
        rows = list(csv.DictReader(handle))
    scores = [float(row["val_balanced_accuracy"]) for row in rows]
    best_rows = [i for i, row in enumerate(rows) if row["best"] == "1"]
    assert scores[best_rows[-1]] == max(scores)  # the last epoch marked best is the most balanced one
    assert summary["best_epoch"] == best_rows[-1] + 1
    assert summary["best_val_balanced_accuracy"] == pytest.approx(max(scores), abs=1e-4)

    # a run kept by plain accuracy (before balanced accuracy chose) and resumed: its best is measured once, so the
    # resumed epochs compare balanced with balanced (an all-_unknown best at 0.74 plain was never beaten)
    state = json.loads(layout.train_state.read_text())
    kept = state["best"].pop("val_balanced_accuracy")
    state["best"]["val_accuracy"] = 1.0  # plain accuracy no balanced score can beat
    layout.train_state.write_text(json.dumps(state))
    longer = _with(preset, train={"epochs": 4})
    run_train(longer, ev.ignore, ev.CancelToken(), resume=True)
    best = json.loads(layout.train_state.read_text())["best"]
    assert best["val_balanced_accuracy"] >= kept - 1e-6  # measured again (same model, same clips), then compared


def test_cancel_stops_within_one_batch_and_saves_nothing(tmp_path):
    preset = make_tone_store(tmp_path / "run", per_class=SMALL, train={"epochs": 3, "batch_size": 8})
    layout = RunLayout(preset)
    cancel = ev.CancelToken()
    batches = []

    def report(event):
        if isinstance(event, ev.Metric) and event.step is not None:
            batches.append(event.step)
            cancel.cancel()  # at the first batch event

    with pytest.raises(Cancelled, match="--resume"):
        run_train(preset, report, cancel)
    assert set(batches) == {batches[0]}  # no batch ran after the one that saw the request
    assert not layout.best_model.exists() and not layout.last_checkpoint.exists()
    assert not layout.train_state.exists()


def test_a_plain_rerun_goes_on_from_an_interrupted_run_and_restart_starts_over(tmp_path):
    """Cancelled after its first epoch, the same training run again (no flag) continues from it, saying so, as the
    features do: a user who re-ran the same command lost every finished epoch. A finished run, or --restart
    (resume=False), starts over."""
    preset = make_tone_store(tmp_path / "run", per_class=SMALL, train={"epochs": 3, "batch_size": 8})
    cancel = ev.CancelToken()

    def report(event):
        if isinstance(event, ev.Metric) and event.step is None and event.epoch == 1:
            cancel.cancel()  # at the end of epoch 1: it is saved, epoch 2 is not run

    with pytest.raises(Cancelled, match="re-run to continue"):
        run_train(preset, report, cancel)
    events = collect_events()
    summary = run_train(preset, events, ev.CancelToken())
    assert summary["resumed_from_epoch"] == 1 and summary["epochs_done"] == 3
    said = [e.message for e in events.events if isinstance(e, ev.StageWarning)]
    assert any("interrupted training of these settings" in m and "--restart starts over" in m for m in said), said
    assert run_train(preset, ev.ignore, ev.CancelToken())["resumed_from_epoch"] == 0  # finished: starts over
    with pytest.raises(Cancelled):
        run_train(preset, report, cancel := ev.CancelToken())
    assert run_train(preset, ev.ignore, ev.CancelToken(), resume=False)["resumed_from_epoch"] == 0  # --restart


def test_a_resumed_run_ends_where_an_uninterrupted_one_does(tmp_path):
    """Cancelled after epoch 1 and resumed, dropout's random stream goes on from where epoch 1 left it, as in an
    uninterrupted run: a saved Keras model does not hold it, so the resumed epochs drew epoch 1's masks again."""
    import keras

    from kwtui.core.stages.train import read_state

    finals = []
    for name, stop in (("straight", None), ("resumed", 1)):
        preset = make_tone_store(tmp_path / name, per_class=SMALL, train={"epochs": 3, "batch_size": 8})
        cancel = ev.CancelToken()

        def report(event, stop=stop, cancel=cancel):
            if stop and isinstance(event, ev.Metric) and event.step is None and event.epoch == stop:
                cancel.cancel()

        if stop:
            with pytest.raises(Cancelled):
                run_train(preset, report, cancel)
            assert read_state(RunLayout(preset))["seed_states"][0][1] > 0  # epoch 1's draws, kept with its state
        run_train(preset, ev.ignore, ev.CancelToken())
        layout = RunLayout(preset)
        weights = keras.saving.load_model(layout.last_checkpoint, compile=False).get_weights()
        finals.append((read_state(layout)["seed_states"], weights))
    (straight_seeds, straight), (resumed_seeds, resumed) = finals
    assert straight_seeds and resumed_seeds == straight_seeds
    # and the model itself ends where the uninterrupted one does (the batches came in another order: Keras's
    # shuffle, from Python's global random stream, which a resumed run starts afresh)
    for a, b in zip(straight, resumed, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_disk_full_during_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch):
    from kwtui.core.io import writer

    preset = make_tone_store(tmp_path / "run", per_class=SMALL, train={"epochs": 1})
    layout = RunLayout(preset)
    run_train(preset, ev.ignore, ev.CancelToken())
    saved = {p: p.read_bytes() for p in (layout.best_model, layout.last_checkpoint, layout.train_state)}
    # Real ENOSPC: the checkpoint temps (fixed names here) point at /dev/full.
    monkeypatch.setattr(
        writer, "temp_name", lambda name, keep_suffix=False: f".kwtui-tmp-{os.getpid()}-0000ffff-{name}"
    )
    for target in (layout.best_model, layout.last_checkpoint):
        os.symlink("/dev/full", target.with_name(writer.temp_name(target.name)))
    with pytest.raises(KwtuiError, match="disk full") as info:
        run_train(_with(preset, train={"epochs": 3}), ev.ignore, ev.CancelToken(), resume=True)
    assert info.value.exit_code == 1
    assert {p: p.read_bytes() for p in saved} == saved
    leftovers = [p for p in layout.run_dir.rglob("*.tmp*") if not p.is_symlink()]
    assert leftovers == []


def test_dscnn_trains_and_converts_to_firmware_ops(tmp_path):
    preset = make_tone_store(
        tmp_path / "run", per_class=SMALL, train={"epochs": 1, "model": "dscnn"}, convert={"representative_samples": 20}
    )
    run_train(preset, ev.ignore, ev.CancelToken())
    summary = run_convert(preset, ev.ignore, ev.CancelToken())
    meta = json.loads((RunLayout(preset).run_dir / "model.json").read_text())
    assert {"DEPTHWISE_CONV_2D", "MEAN"} <= set(meta["ops"]) <= set(FIRMWARE_OPS)
    assert summary["model_bytes"] < 45 * 1024 and summary["arena_bytes"] < 200 * 1024


def test_single_keyword_without_other_classes_gets_one_sigmoid_output(tmp_path):
    store = make_tone_store(tmp_path / "store", ["marvin"], per_class=SMALL)
    preset = _with(
        store,
        name="solo",
        run_dir=str(tmp_path / "solo"),
        classes={"unknown": False, "background": False},
        features={"output": str(store.features_path)},
        train={"epochs": 2},
        convert={"firmware_dir": str(tmp_path / "fw")},
    )
    # the store's _unknown/_background files are this binary model's negatives: its record says so
    info_path = store.features_path / "features.json"
    info = json.loads(info_path.read_text())
    fingerprint = records.features_fingerprint(preset)
    info_path.write_text(json.dumps({**info, "fingerprint": fingerprint}))
    run_train(preset, ev.ignore, ev.CancelToken())
    summary = run_evaluate(preset, ev.ignore, ev.CancelToken())
    assert summary["accuracy"] > 0.5
    run_convert(preset, ev.ignore, ev.CancelToken())
    header = (tmp_path / "fw" / "model.h").read_text()
    assert "kSigmoidOutput = true" in header and "kNumClasses = 1;" in header
    meta = json.loads((tmp_path / "solo" / "model.json").read_text())
    assert "LOGISTIC" in meta["ops"] and meta["labels"] == ["marvin"]


def test_op_check_refuses_ops_the_firmware_lacks():
    from kwtui.core.model import build_cnn

    # Flatten with a dynamic batch converts to SHAPE/STRIDED_SLICE/PACK: exactly what the check must catch.
    ops = model_ops(to_tflite(build_cnn(3, False), None, "float"))
    with pytest.raises(KwtuiError, match="does not register") as info:
        check_firmware_ops(ops)
    assert "SHAPE" in str(info.value) or "PACK" in str(info.value)


def test_early_stopping_stops_after_patience(tmp_path):
    # A learning rate this small cannot improve validation after the first epoch.
    preset = make_tone_store(
        tmp_path / "run", per_class=SMALL, train={"epochs": 6, "early_stopping": 1, "learning_rate": 1e-12}
    )
    summary = run_train(preset, ev.ignore, ev.CancelToken())
    assert summary["stopped_early_at"] == 2 and summary["epochs_done"] == 2 and summary["best_epoch"] == 1


def test_float_conversion_runs_in_tflm(trained_run, tmp_path):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(trained_run.run_path, run)
    preset = _with(
        trained_run,
        run_dir=str(run),
        features={"output": str(run / "features")},
        convert={"quantization": "float", "firmware_dir": str(tmp_path / "fw")},
    )
    summary = run_convert(preset, ev.ignore, ev.CancelToken())
    assert summary["tflm_accuracy"] == pytest.approx(summary["float_accuracy"], abs=0.021)
    meta = json.loads((run / "model.json").read_text())
    assert meta["input_dtype"] == "float32" and meta["quantization"] == "float"
    assert "kInt8Model = false" in (tmp_path / "fw" / "model.h").read_text()


def test_a_sigmoid_per_class_trains_evaluates_and_converts_to_a_streaming_model(tmp_path):
    """train.output = sigmoid with several classes: one LOGISTIC unit per class, trained one against the rest;
    its scores no longer share one probability, and the streaming int8 model still matches Keras in TFLM."""
    preset = make_tone_store(
        tmp_path / "run",
        per_class=(24, 8, 8),
        train={"epochs": 6, "output": "sigmoid"},
        convert={"representative_samples": 20, "firmware_dir": str(tmp_path / "fw")},
    )
    assert preset.model_outputs == (len(preset.class_names), True)
    run_train(preset, ev.ignore, ev.CancelToken())
    layout = RunLayout(preset)
    from kwtui.core.model import load_keras

    model = load_keras(layout.best_model)
    assert model.layers[-1].get_config()["activation"] == "sigmoid"
    summary = run_evaluate(preset, ev.ignore, ev.CancelToken())
    assert summary["accuracy"] > 0.6
    run_convert(preset, ev.ignore, ev.CancelToken())
    meta = json.loads((layout.run_dir / "model.json").read_text())
    assert "LOGISTIC" in meta["ops"] and "SOFTMAX" not in meta["ops"]
    assert meta["labels"] == preset.class_names and meta["sigmoid_output"] is False
    assert f"kNumClasses = {len(preset.class_names)};" in (tmp_path / "fw" / "model.h").read_text()


def test_an_abandoned_run_is_not_resumed_and_a_run_killed_after_its_last_epoch_is(tmp_path):
    """Starting over forgets the earlier run's state at once: killed inside the new run's first epoch, a plain
    re-run resumed the abandoned model. A run stopped after its last epoch but before its record (the final fit)
    is taken up again, not trained from epoch 1. A damaged state file is no state."""
    from kwtui.core.stages.train import read_state

    preset = make_tone_store(tmp_path / "run", per_class=SMALL, train={"epochs": 2, "batch_size": 8})
    layout = RunLayout(preset)
    run_train(preset, ev.ignore, ev.CancelToken())
    os.unlink(layout.train_record)  # as a kill between the last epoch and the record leaves it
    events = collect_events()
    assert run_train(preset, events, ev.CancelToken())["resumed_from_epoch"] == 2
    assert not [e for e in events.events if isinstance(e, ev.StageWarning) and "nothing to train" in e.message]

    cancel = ev.CancelToken()

    def report(event):
        if isinstance(event, ev.Metric) and event.step is not None:
            cancel.cancel()  # inside the first epoch of the new run

    with pytest.raises(Cancelled):
        run_train(preset, report, cancel, resume=False)  # --restart
    assert read_state(layout) is None
    assert run_train(preset, ev.ignore, ev.CancelToken())["resumed_from_epoch"] == 0

    layout.train_state.write_text("[]")
    assert read_state(layout) is None
