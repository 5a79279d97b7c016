"""Training stage: stream the feature store from disk, report progress, keep the best checkpoint, resume.

Outputs (kwtui.core.io.layout): model_best.keras (best balanced validation accuracy, the mean recall over classes,
ties -> lower val loss),
checkpoints/last.keras + train_state.json (after every finished epoch), history.csv, and with
`train.final_fit_all` > 0 also model_final_all.keras (trained on train+validation+test: not held-out).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import secrets
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from kwtui.core import events as ev
from kwtui.core.data.frontends import frontend
from kwtui.core.errors import Cancelled, KwtuiError, UserError
from kwtui.core.features.store import (
    Split,
    check_files,
    class_weights,
    features_info,
    load_splits,
    make_sequence,
    sigmoid_output,
)
from kwtui.core.io import records, run_folder, writer
from kwtui.core.io.layout import RunLayout
from kwtui.core.model import balanced_accuracy, load_keras, predicted_classes
from kwtui.core.preset import Preset

STAGE = "train"
BATCH_EVENT_INTERVAL_S = 0.1  # per-batch Metric/Progress events at most 10 per second (always at epoch end)
RESOURCE_INTERVAL_S = 0.3


def deployed_model_path(layout: RunLayout) -> Path:
    """The model evaluate/convert use: the final-fit-all model when the preset asks for it, else the best."""
    final = layout.final_model
    if layout.preset.train.final_fit_all > 0 and final.exists():
        return final
    return layout.best_model


def trained_model_path(layout: RunLayout, command: str | None = None) -> Path:
    """deployed_model_path, or a UserError saying to train first (or again, when the preset changed since);
    `command`: the stage asking (named in the refusal's alternative)."""
    records.require(layout, "train", command)
    source = deployed_model_path(layout)
    if not source.exists():
        raise UserError(f"{source}: no trained model; run `kwtui train {layout.preset.name}` first")
    return source


# --- files (through the one writer) ---------------------------------------------------


def write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer.write_text(path, text)


def save_model_atomic(model: Any, path: Path) -> None:
    """model.save to a kwtui temp beside `path`, then rename: a failure leaves the previous file intact."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with writer.temp_for(path, keep_suffix=True) as tmp:  # Keras saves only to a name ending in .keras
        model.save(tmp)


# --- state -------------------------------------------------------------------------


def _fingerprint(preset: Preset) -> dict[str, Any]:
    """What a resumed run must share with the saved one (epochs and patience may change: resume extends)."""
    cfg = preset.train
    return {
        "model": cfg.model,
        "classes": preset.class_names,
        "sigmoid": sigmoid_output(preset),
        "output": cfg.output,
        "features": records.features_fingerprint(preset),
        "batch_size": cfg.batch_size,
        "learning_rate": cfg.learning_rate,
        "class_weights": cfg.class_weights,
        "seed": cfg.seed,
    }


def read_state(layout: RunLayout) -> dict[str, Any] | None:
    try:
        state = json.loads(layout.train_state.read_text(encoding="utf-8"))
        return state if isinstance(state, dict) and isinstance(state.get("epochs_done"), int) else None
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError):
        return None


def history_text(history: list[dict[str, Any]]) -> str:
    keys = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "val_balanced_accuracy", "seconds", "best"]
    out = io.StringIO()
    table = csv.DictWriter(out, fieldnames=keys, extrasaction="ignore")
    table.writeheader()
    table.writerows(history)
    return out.getvalue()


def validation_balanced_accuracy(model: Any, validation: tuple[Any, Any, bool], callbacks: list[Any]) -> float:
    """The balanced accuracy of `model` on `validation` (sequence, labels, single sigmoid)."""
    sequence, labels, single_sigmoid = validation
    return balanced_accuracy(
        labels, predicted_classes(model.predict(sequence, verbose=0, callbacks=callbacks), single_sigmoid)
    )


def _better(score: float, val_loss: float, best: dict[str, Any] | None) -> bool:
    """`score`: the epoch's balanced validation accuracy, or without validation clips its training accuracy."""
    if best is None:
        return True
    kept = best.get("val_balanced_accuracy", best["val_accuracy"])
    if score != kept:
        return bool(score > kept)
    return bool(val_loss < best["val_loss"])


def _resources(path: Path) -> ev.Resources:
    import psutil

    from kwtui.core.monitor import tree_memory

    memory = tree_memory()
    free = shutil.disk_usage(path if path.exists() else path.parent).free if path.parent.exists() else 0
    return ev.Resources(
        STAGE,
        rss_bytes=memory.private_bytes,
        mapped_bytes=memory.mapped_bytes,
        available_bytes=psutil.virtual_memory().available,
        free_disk_bytes=free,
    )


# --- the Keras callback ------------------------------------------------------------------


def make_callback(
    report: ev.Reporter,
    cancel: ev.CancelToken,
    layout: RunLayout,
    sequence: Any,
    total_epochs: int,
    state: dict[str, Any],
    save: bool = True,
    label: str = "",
    validation: tuple[Any, Any, bool] | None = None,
) -> Any:
    """Batches/epochs -> events; cancellation within one batch; checkpoints after every finished epoch.
    `validation`: (sequence, labels, single sigmoid), whose balanced accuracy chooses the best epoch."""
    import keras

    steps = len(sequence)
    batch_size = sequence.batch_size
    n_samples = len(sequence.split)
    patience = layout.preset.train.early_stopping

    class Callback(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.last_event = 0.0
            self.last_resources = 0.0
            self.batches_done = 0  # in this run, for its rate
            self.before = steps * state["epochs_done"]  # a resumed run's bar goes on where the last one stopped
            self.total_batches = steps * total_epochs
            self.started = time.monotonic()

        def _check_cancel(self, epoch: int) -> None:
            if cancel.cancelled:
                self.model.stop_training = True
                done = state["epochs_done"]
                raise Cancelled(
                    f"train: cancelled in epoch {epoch}; {done} finished epoch(s) saved, "
                    "re-run to continue (--resume; --restart starts over)"
                )

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            sequence.set_epoch(epoch)
            self.epoch = epoch + 1
            self.epoch_started = time.monotonic()

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            self.batches_done += 1
            writer.step_point()
            self._check_cancel(self.epoch)
            now = time.monotonic()
            last_batch = batch + 1 == steps
            if now - self.last_event >= BATCH_EVENT_INTERVAL_S or last_batch:
                self.last_event = now
                logs = logs or {}
                step = (self.epoch - 1) * steps + batch + 1
                for name in ("loss", "accuracy"):
                    if name in logs:
                        at = self.epoch - 1 + (batch + 1) / steps
                        report(ev.Metric(STAGE, name, float(logs[name]), step=step, epoch=self.epoch, epochs=at))
                elapsed = max(now - self.started, 1e-6)
                batches_per_s = self.batches_done / elapsed
                samples_per_s = min(self.batches_done * batch_size, n_samples * total_epochs) / elapsed
                remaining = self.total_batches - self.before - self.batches_done
                report(
                    ev.Progress(
                        STAGE,
                        done=self.before + self.batches_done,
                        total=self.total_batches,
                        rate=batches_per_s,
                        eta_s=remaining / batches_per_s if batches_per_s > 0 else None,
                        unit="batches",
                        message=f"{label}epoch {self.epoch}/{total_epochs}, {samples_per_s:,.0f} samples/s",
                    )
                )
            if now - self.last_resources >= RESOURCE_INTERVAL_S:
                self.last_resources = now
                report(_resources(layout.run_dir))

        def on_test_batch_end(self, batch: int, logs: Any = None) -> None:
            self._check_cancel(self.epoch)

        def on_predict_batch_end(self, batch: int, logs: Any = None) -> None:
            self._check_cancel(self.epoch)

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            logs = {k: float(v) for k, v in (logs or {}).items()}
            self._check_cancel(self.epoch)
            if save and validation is not None:  # a second read of the validation files, cancellable per batch
                logs["val_balanced_accuracy"] = validation_balanced_accuracy(self.model, validation, [self])
            for name in ("loss", "accuracy", "val_loss", "val_accuracy", "val_balanced_accuracy"):
                if name in logs:
                    report(ev.Metric(STAGE, name, logs[name], step=None, epoch=self.epoch, epochs=float(self.epoch)))
            if not save:
                state["epochs_done"] = self.epoch
                return
            # No validation data: fall back to the training metrics for "best".
            val_acc = logs.get("val_accuracy", logs.get("accuracy", 0.0))
            val_loss = logs.get("val_loss", logs.get("loss", float("inf")))
            balanced = logs.get("val_balanced_accuracy")
            improved = _better(val_acc if balanced is None else balanced, val_loss, state["best"])
            row = {
                "epoch": self.epoch,
                **{k: round(v, 6) for k, v in logs.items()},
                "seconds": round(time.monotonic() - self.epoch_started, 3),
                "best": int(improved),
            }
            if improved:
                _keep_previous_best(layout, state, report)
            new_state = {**state, "epochs_done": self.epoch, "history": [*state["history"], row]}
            new_state["seed_states"] = seed_states(self.model)
            if improved:
                new_state["best"] = {"epoch": self.epoch, "val_accuracy": val_acc, "val_loss": val_loss}
                if balanced is not None:
                    new_state["best"]["val_balanced_accuracy"] = balanced
            # The epoch's checkpoint, best model, state and history form one unit: a kill at any instant
            # leaves the previous epoch's set or this one's, so --resume never repeats or skips an epoch.
            layout.checkpoints_dir.mkdir(parents=True, exist_ok=True)
            try:
                with writer.unit(layout.run_dir) as unit:
                    self.model.save(unit.temp(layout.last_checkpoint, keep_suffix=True))
                    if improved:
                        self.model.save(unit.temp(layout.best_model, keep_suffix=True))
                    unit.add(layout.history, history_text(new_state["history"]).encode())
                    unit.add(layout.train_state, json.dumps(new_state, indent=2).encode())
            except writer.DiskFull as exc:
                raise writer.DiskFull(f"{exc} with --resume") from None
            state.update(new_state)
            if patience and state["best"] and self.epoch - state["best"]["epoch"] >= patience:
                state["stopped_early"] = self.epoch
                self.model.stop_training = True

    return Callback()


def _seed_generators(model: Any) -> list[Any]:
    """The model's random streams (dropout's masks): a saved Keras model does not hold where they stand."""
    return [g for layer in model._flatten_layers(include_self=False) for g in getattr(layer, "_seed_generators", [])]


def seed_states(model: Any) -> list[list[int]]:
    """Where each random stream stands, kept in the training state beside the checkpoint: a resumed run drew the
    first epoch's dropout masks again and trained another model than an uninterrupted one."""
    return [[int(v) for v in g.state.numpy()] for g in _seed_generators(model)]


def restore_seed_states(model: Any, states: list[list[int]] | None) -> None:
    generators = _seed_generators(model)
    if states is None or len(states) != len(generators):  # a state saved before they were kept: as before
        return
    for generator, saved in zip(generators, states):
        generator.state.assign(np.asarray(saved, dtype=generator.state.dtype))


def _keep_previous_best(layout: RunLayout, state: dict[str, Any], report: ev.Reporter) -> None:
    """A fresh run never destroys an earlier run's best model: it is copied to model_best.previous.keras once."""
    if state.get("previous_best_kept") or state["best"] is not None or not layout.best_model.exists():
        return
    previous = layout.previous_best_model
    with writer.temp_for(previous) as tmp:
        shutil.copyfile(layout.best_model, tmp)
    state["previous_best_kept"] = True
    report(ev.StageWarning(STAGE, "an earlier best model was kept as model_best.previous.keras", str(previous)))


# --- the stage -------------------------------------------------------------------------------


def _fit(model: Any, train_seq: Any, val_seq: Any, epochs: int, initial_epoch: int, callback: Any) -> None:
    try:
        model.fit(
            train_seq,
            validation_data=val_seq,
            epochs=epochs,
            initial_epoch=initial_epoch,
            callbacks=[callback],
            verbose=0,
            # the sequence orders each epoch from (seed, epoch); Keras's own batch shuffle draws from Python's
            # global random stream, which a resumed run starts afresh, so its epochs went another way
            shuffle=False,
        )
    except KwtuiError:
        raise
    except Exception as exc:  # tf.data wraps errors raised while reading a batch
        for seq in (train_seq, val_seq):
            if seq is not None and getattr(seq, "error", None) is not None:
                raise seq.error from None
        raise KwtuiError(
            f"train: training failed ({exc.__class__.__name__}: {str(exc).splitlines()[0][:160]})"
        ) from exc


# Threads reading batches ahead of training: the files are small, so reading is mostly waiting, and one thread
# leaves the model waiting for its input (BENCHMARKS.md "Training throughput").
READ_THREADS = 4


def split_sizes_line(info: dict[str, Any]) -> str:
    """`clips per class (train/validation/test): yes 120/14/15, ...`: what training will see, before it starts."""
    counts = info.get("counts", {})
    classes = info.get("classes") or list(counts.get("train", {}))
    parts = [
        f"{name} {'/'.join(str(counts.get(split, {}).get(name, 0)) for split in ('train', 'validation', 'test'))}"
        for name in classes
    ]
    return "clips per class (train/validation/test): " + ", ".join(parts)


def run_train(
    preset: Preset, report: ev.Reporter, cancel: ev.CancelToken, resume: bool | None = None
) -> dict[str, Any]:
    """`resume`: True continues after the last finished epoch, False starts over, None (a plain re-run) continues
    an interrupted run of these very settings and else starts over."""
    layout = RunLayout(preset)
    with run_folder.writing(layout.run_dir, "run_dir", STAGE), run_folder.reading(layout.features_dir, STAGE):
        writer.remove_stale_temps(layout.checkpoints_dir)
        asked = resume is not None
        resume = _interrupted(preset, layout, report) if resume is None else resume
        return _train(preset, layout, report, cancel, resume, asked)


def _loss_weights(preset: Preset, labels: np.ndarray) -> np.ndarray:
    """Each class's weight in the loss: train.class_weights, times train.negative_weight for _unknown/_background
    (a false accept can cost more than a miss)."""
    cfg = preset.train
    sigmoid = sigmoid_output(preset)
    weights = class_weights(labels, 2 if sigmoid else len(preset.class_names), cfg.class_weights)
    negatives = [0] if sigmoid else [i for i, name in enumerate(preset.class_names) if name.startswith("_")]
    weights[negatives] *= cfg.negative_weight
    return weights


def _interrupted(preset: Preset, layout: RunLayout, report: ev.Reporter) -> bool:
    """The run folder holds a training of these settings that stopped before its end (killed, Ctrl-C, a full
    disk, during the final fit): no train record (committed only when training ends), a state of the same
    fingerprint and no more epochs than asked. A plain re-run then goes on from it, as the features do, instead of
    throwing the finished epochs away."""
    state = read_state(layout)
    if state is None or layout.train_record.exists() or state.get("fingerprint") != _fingerprint(preset):
        return False
    if not 0 < state["epochs_done"] <= preset.train.epochs:  # every epoch done: killed before the record
        return False
    report(
        ev.StageWarning(
            STAGE,
            f"{layout.run_dir}: an interrupted training of these settings, {state['epochs_done']} epoch(s) done: "
            "resuming it (--restart starts over)",
        )
    )
    return True


def _start_or_resume(
    preset: Preset, layout: RunLayout, report: ev.Reporter, resume: bool
) -> tuple[Any, dict[str, Any]]:
    """(model, training state): the last checkpoint and its state with --resume when they match the preset, else
    a new model. The train record goes first: from here the files it names change (it is committed again last)."""
    from kwtui.core.model import build_model

    cfg = preset.train
    state = read_state(layout) if resume else None
    if resume and state is None:
        report(ev.StageWarning(STAGE, "nothing to resume (no finished epoch saved); starting from scratch"))
    if state is not None and state.get("fingerprint") != _fingerprint(preset):
        raise UserError(
            f"{layout.train_state}: the saved run used other features, classes or training settings; "
            "run without --resume to start over"
        )
    if state is not None and state["epochs_done"] > cfg.epochs:
        # its record would name a model of train.epochs epochs that is not the one there: a replay would differ
        raise UserError(
            f"train.epochs = {cfg.epochs}, but the saved model has trained {state['epochs_done']}: set train.epochs "
            f"= {state['epochs_done']} and resume to finish it, or run without --resume to start over with "
            f"{cfg.epochs}"
        )
    with contextlib.suppress(FileNotFoundError):
        os.unlink(layout.train_record)
    if state is not None and layout.last_checkpoint.exists():
        model = load_keras(layout.last_checkpoint, "run without --resume to start over")
        restore_seed_states(model, state.get("seed_states"))
        return model, state
    # starting over: the abandoned run's state goes now, not with epoch 1's (a kill inside epoch 1 left it, and a
    # plain re-run took it for an interrupted training and went on with the abandoned model)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(layout.train_state)
    n_outputs, sigmoid_units = preset.model_outputs
    shape = frontend(preset.features.frontend).input_shape
    model = build_model(cfg.model, n_outputs, sigmoid_units, cfg.learning_rate, cfg.seed, shape)
    return model, {"fingerprint": _fingerprint(preset), "epochs_done": 0, "best": None, "history": []}


def _train(
    preset: Preset, layout: RunLayout, report: ev.Reporter, cancel: ev.CancelToken, resume: bool, asked: bool = True
) -> dict[str, Any]:
    cfg = preset.train
    started = time.monotonic()
    records.require(layout, "features")
    splits = load_splits(layout)
    train, val = splits["train"], splits["validation"]
    report(
        ev.Started(
            STAGE,
            total=None,
            unit="files",
            message=f"checking feature files; {split_sizes_line(features_info(layout))}",
        )
    )
    for split in (train, val):
        cancel.raise_if_cancelled()
        check_files(split.paths, report, cancel, STAGE)

    from kwtui.core.model import seed_everything

    n_outputs, sigmoid_units = preset.model_outputs
    one_hot = n_outputs if sigmoid_units and n_outputs > 1 else 0  # a sigmoid per class learns from one-hot rows
    seed_everything(cfg.seed)
    weights = _loss_weights(preset, train.labels)
    train_seq = make_sequence(
        train,
        cfg.batch_size,
        shuffle=True,
        seed=cfg.seed,
        weights=weights,
        workers=READ_THREADS,
        spec_augment=cfg.spec_augment,
        one_hot=one_hot,
    )
    val_seq = (
        make_sequence(val, cfg.batch_size, shuffle=False, workers=READ_THREADS, one_hot=one_hot) if len(val) else None
    )
    if val_seq is None:
        report(ev.StageWarning(STAGE, "no validation clips: the best model is chosen by training accuracy"))
    model, state = _start_or_resume(preset, layout, report, resume)
    resumed_from = state["epochs_done"]

    report(
        ev.Started(
            STAGE,
            total=len(train_seq) * cfg.epochs,
            unit="batches",
            message=f"{cfg.model}, {len(train)} train / {len(val)} validation clips"
            + (f", resuming after epoch {resumed_from}" if resumed_from else ""),
        )
    )
    if resumed_from:  # the whole job's bar, as the features stage's: the epochs done are done
        done = len(train_seq) * min(resumed_from, cfg.epochs)
        report(ev.Progress(STAGE, done=done, total=len(train_seq) * cfg.epochs, unit="batches"))
    if resume and asked and resumed_from == cfg.epochs:
        report(
            ev.StageWarning(
                STAGE,
                f"{resumed_from} epochs are already done and train.epochs is {cfg.epochs}: nothing "
                f"to train; raise train.epochs above {resumed_from} to train longer",
            )
        )
    validation = (val_seq, val.labels, preset.single_sigmoid) if val_seq is not None else None
    best = state["best"]
    if validation and best and "val_balanced_accuracy" not in best and layout.best_model.exists():
        # kept by plain accuracy before balanced accuracy chose: measured once, so a resumed run compares like with
        # like (the demo's kept epoch 1 called everything _unknown: 0.74 plain, 0.19 balanced)
        best["val_balanced_accuracy"] = validation_balanced_accuracy(load_keras(layout.best_model), validation, [])
    if resumed_from < cfg.epochs and not state.get("stopped_early"):
        callback = make_callback(report, cancel, layout, train_seq, cfg.epochs, state, validation=validation)
        _fit(model, train_seq, val_seq, cfg.epochs, resumed_from, callback)

    summary: dict[str, Any] = {
        "model": cfg.model,
        "epochs_done": state["epochs_done"],
        "resumed_from_epoch": resumed_from,
        "best_epoch": state["best"]["epoch"] if state["best"] else None,
        "best_val_accuracy": round(state["best"]["val_accuracy"], 4) if state["best"] else None,
        "best_val_balanced_accuracy": (
            round(state["best"]["val_balanced_accuracy"], 4)
            if state["best"] and "val_balanced_accuracy" in state["best"]
            else None
        ),
        "best_val_loss": round(state["best"]["val_loss"], 4) if state["best"] else None,
        "stopped_early_at": state.get("stopped_early"),
        "params": int(model.count_params()),
        "train_clips": len(train),
        "best_model": str(layout.best_model),
    }
    if cfg.final_fit_all > 0:
        summary.update(_final_fit_all(layout, splits, report, cancel, weights, one_hot))
    elapsed = time.monotonic() - started
    summary["seconds"] = round(elapsed, 1)
    record = records.StageRecord(
        "train",
        records.train_fingerprint(preset),
        preset.class_names,
        run_id=secrets.token_hex(8),
        body={
            "features_fingerprint": records.features_fingerprint(preset),
            "model": str(deployed_model_path(layout)),
            "summary": summary,
        },
    )
    writer.write_text(layout.train_record, record.to_json(), fsync=True)
    report(ev.Finished(STAGE, summary))
    return summary


def _final_fit_all(
    layout: RunLayout,
    splits: dict[str, Split],
    report: ev.Reporter,
    cancel: ev.CancelToken,
    weights: np.ndarray,
    one_hot: int,
) -> dict[str, Any]:
    """Continue from the best checkpoint on train+validation+test; saved separately, labelled not held-out."""
    cfg = layout.preset.train
    check_files(splits["test"].paths)
    everything = Split(
        "all",
        [p for s in splits.values() for p in s.paths],
        np.concatenate([s.labels for s in splits.values()]),
    )
    model = load_keras(layout.best_model)
    seq = make_sequence(
        everything,
        cfg.batch_size,
        shuffle=True,
        seed=cfg.seed + 1,
        weights=weights,
        workers=READ_THREADS,
        spec_augment=cfg.spec_augment,
        one_hot=one_hot,
    )
    state: dict[str, Any] = {"epochs_done": 0, "best": None, "history": []}
    report(
        ev.Started(
            STAGE,
            total=len(seq) * cfg.final_fit_all,
            unit="batches",
            message=f"final fit on train+validation+test for {cfg.final_fit_all} epoch(s)",
        )
    )
    callback = make_callback(report, cancel, layout, seq, cfg.final_fit_all, state, save=False, label="final fit ")
    _fit(model, seq, None, cfg.final_fit_all, 0, callback)
    path = layout.final_model
    save_model_atomic(model, path)
    return {
        "final_fit_all_epochs": cfg.final_fit_all,
        "final_model": str(path),
        "final_model_note": "trained on train+validation+test: test figures of this model are not held-out",
    }
