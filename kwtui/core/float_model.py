"""The trained model as a float TFLite flatbuffer, run in TensorFlow Lite Micro: what evaluation slides over hours
of audio without loading TensorFlow (which alone takes more memory than the whole evaluation).

The conversion needs TensorFlow, so it runs once per training run in a short child process
(`python -m kwtui.core.float_model`); the result is kept in the run folder beside a record naming the Keras
file and training run it came from, and made again when either changes. TFLM's float kernels give the Keras
model's outputs (to ~1e-6).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from kwtui.core.errors import KwtuiError
from kwtui.core.io import writer
from kwtui.core.native import dies_with_parent

ARENA_BYTES = 1 << 20  # float activations of the shipped models fit well within this


def _source_key(source: Path, run_id: str) -> dict[str, Any]:
    st = source.stat()
    return {"source": str(source.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "run_id": run_id}


def float_model(source: Path, target: Path, run_id: str, kind: str, n_outputs: int, sigmoid: bool) -> bytes:
    """The float TFLite bytes of the Keras model `source`, made in a child process unless `target` holds them."""
    record = target.with_suffix(".json")
    key = _source_key(source, run_id)
    try:
        if json.loads(record.read_text(encoding="utf-8")) == key:
            return target.read_bytes()
    except (OSError, ValueError):
        pass
    env = {k: v for k, v in os.environ.items() if not k.startswith("KWTUI_TEST_")}  # its commits are not the run's
    # the child writes into the run folder: it must end with the stage that holds the folder's lock
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "kwtui.core.float_model",
            str(source),
            str(target),
            kind,
            str(n_outputs),
            "1" if sigmoid else "0",
        ],
        capture_output=True,
        text=True,
        env=env,
        preexec_fn=dies_with_parent(),
    )
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise KwtuiError(f"evaluate: cannot convert {source.name} for evaluation ({(lines or ['?'])[-1][:160]})")
    writer.write_text(record, json.dumps(key) + "\n")
    return target.read_bytes()


class TflmScorer:
    """Callable: a batch (n, frames, bins, 1) of features -> (n, outputs) float32, one TFLM invoke per window."""

    def __init__(self, tflite: bytes) -> None:
        from tflite_micro.python.tflite_micro import runtime

        self.interpreter = runtime.Interpreter.from_bytes(tflite, arena_size=ARENA_BYTES)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        rows = []
        for x in batch:
            self.interpreter.set_input(x[np.newaxis].astype(np.float32, copy=False), 0)
            self.interpreter.invoke()
            rows.append(np.asarray(self.interpreter.get_output(0), dtype=np.float32).reshape(-1))
        return np.stack(rows) if rows else np.zeros((0, 1), np.float32)


def _convert(source: str, target: str, kind: str, n_outputs: int, sigmoid: bool) -> None:
    from kwtui.core.native import import_tensorflow_quietly

    import_tensorflow_quietly()
    from kwtui.core.model import inference_clone, load_keras
    from kwtui.core.tflite.converter import to_tflite

    model = inference_clone(load_keras(Path(source)), kind, n_outputs, sigmoid)
    writer.write_bytes(Path(target), to_tflite(model, None, "float"))


if __name__ == "__main__":
    _convert(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5] == "1")
