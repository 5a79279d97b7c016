"""Stage records of a finished run, for fixtures that fake a stage's outputs: what the stages would commit."""

from __future__ import annotations

from kwtui.core.io import ownership, records
from kwtui.core.io.layout import RunLayout


def write_fresh_records(layout: RunLayout, run_id: str = "fixture", extra_features: dict | None = None) -> None:
    """Owned run and features folders, features.json and train.json up to date for `layout.preset`."""
    ownership.claim(layout.run_dir, "run_dir")
    ownership.claim(layout.features_dir, "features.output")
    preset = layout.preset
    fingerprint = records.features_fingerprint(preset)
    features = {"classes": preset.class_names, **(extra_features or {})}
    layout.features_info.write_text(
        records.StageRecord("features", fingerprint, preset.class_names, body=features).to_json()
    )
    train = records.StageRecord("train", records.train_fingerprint(preset), preset.class_names, run_id=run_id)
    layout.train_record.write_text(train.to_json())


def model_record_fields(layout: RunLayout) -> dict:
    """The keys of model.json that tie a converted model to its training run and settings."""
    return {
        "kind": "model",
        "version": records.RECORD_VERSION,
        "labels": layout.preset.class_names,
        "fingerprint": records.model_fingerprint(layout),
        "train_fingerprint": records.train_fingerprint(layout.preset),
        "train_run": records.train_run_id(layout),
    }


def converted_meta(labels: list[str], num_keywords: int, model_bytes: int, **overrides) -> dict:
    """model.json as `kwtui convert` writes it (the fields the flash stage reads, plus a few others)."""
    meta = {
        "preset": "fw",
        "quantization": "int8",
        "model_bytes": model_bytes,
        "arena_bytes": 24_576,
        "arena_min_bytes": 24_064,
        "arena_margin_bytes": 512,
        "ops": ["CONV_2D", "FULLY_CONNECTED", "SOFTMAX"],
        "labels": labels,
        "num_keywords": num_keywords,
        "sigmoid_output": False,
        "input_dtype": "int8",
        "input_scale": 0.0321,
        "input_zero_point": 59,
        "output_dtype": "int8",
        "output_scale": 0.00390625,
        "output_zero_point": -128,
        "feature_frames": 99,
        "feature_bins": 43,
        "average_window": 3,
        "threshold": 0.9,
        "refractory_ms": 1000,
        "hop_ms": 100,
    }
    meta.update(overrides)
    return meta


def minimal_tflite(outputs: int, size: int) -> bytes:
    """A real TFLite flatbuffer (one [1, outputs] uint8 tensor, input and output of an empty graph) padded with
    seeded random bytes (as incompressible as real weights) to `size`: what flash reads of a model (its output
    size) without converting one."""
    import flatbuffers
    import numpy as np
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    tensor = schema.TensorT()
    tensor.shape, tensor.type, tensor.buffer = [1, outputs], schema.TensorType.UINT8, 0
    graph = schema.SubGraphT()
    graph.tensors, graph.inputs, graph.outputs, graph.operators = [tensor], [0], [0], []
    model = schema.ModelT()
    model.version, model.subgraphs, model.operatorCodes, model.buffers = 3, [graph], [], [schema.BufferT()]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    data = bytes(builder.Output())
    assert len(data) <= size, (len(data), size)
    return data + np.random.default_rng(1).integers(0, 256, size - len(data), dtype=np.uint8).tobytes()


def converted_run_factory(tmp_path):
    """A preset whose run folder holds a converted model (model.tflite + model.json); returns a factory."""
    import json

    from kwtui.core.preset import from_dict

    def make(model_bytes: int = 60_000, flash: dict | None = None, write_model: bool = True):
        from kwtui.core.io.layout import RunLayout

        run_dir = tmp_path / "runs" / "fw"
        labels = ["marvin", "_unknown", "_background"]
        data = {"name": "fw", "run_dir": str(run_dir), "classes": {"keywords": ["marvin"]}, "flash": flash or {}}
        preset = from_dict(data)
        layout = RunLayout(preset)
        write_fresh_records(layout)
        if write_model:
            (run_dir / "model.tflite").write_bytes(minimal_tflite(len(labels), model_bytes))
            meta = {**converted_meta(labels, 1, model_bytes), **model_record_fields(layout)}
            (run_dir / "model.json").write_text(json.dumps(meta))
        return preset

    return make
