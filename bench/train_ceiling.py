"""Where a training step's time goes: the compute ceiling of each model kind on this machine, no input pipeline.

Run: .venv/bin/python bench/train_ceiling.py [--batch 64 256]

With the data already in TensorFlow tensors (no files, no Keras loop), it times for each batch size:
- each block of the default `cnn` alone, forward and forward + backward (the gradients training needs: the
  first convolution's input gradient is not needed, so it is not computed);
- the whole train step (forward, backward, Adam) of every model kind in one `tf.function`, and its forward pass;
- `model.fit` on arrays in RAM (Keras's loop, callbacks off).
The samples/s of the whole train step is the most any input pipeline or training loop can reach with that model
here; it says whether a throughput target is a matter of the pipeline or of the model's compute.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def best_ms(function, *args, calls: int = 30, rounds: int = 3) -> float:
    import numpy as np
    import tensorflow as tf

    for _ in range(5):
        function(*args)
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            result = function(*args)
        [np.asarray(value) for value in tf.nest.flatten(result)]  # wait for the last call
        times.append((time.perf_counter() - started) / calls)
    return min(times) * 1e3


def cnn_blocks(batch: int) -> list[tuple[str, float, float]]:
    """(block, forward ms, forward + backward ms) for the default cnn's layers, on random tensors of their shapes."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)

    def tensor(*shape):
        return tf.constant(rng.random((batch, *shape), dtype=np.float32))

    def variable(*shape):
        return tf.Variable(rng.standard_normal(shape).astype(np.float32) * 0.3)

    k1, b1, k2, b2 = variable(3, 3, 1, 4), variable(4), variable(3, 3, 4, 4), variable(4)
    w1, c1, w2, c2 = variable(828, 40), variable(40), variable(40, 6), variable(6)

    def conv_block(x, k, b):
        return tf.nn.max_pool2d(tf.nn.relu(tf.nn.conv2d(x, k, 1, "VALID") + b), 2, 2, "VALID")

    blocks = [
        ("conv1 3x3 1->4 + relu + pool", lambda x: conv_block(x, k1, b1), [k1, b1], tensor(99, 43, 1), False),
        ("conv2 3x3 4->4 + relu + pool", lambda x: conv_block(x, k2, b2), [k2, b2], tensor(48, 20, 4), True),
        (
            "dense 828->40->6 + softmax",
            lambda x: tf.nn.softmax(tf.nn.relu(x @ w1 + c1) @ w2 + c2),
            [w1, c1, w2, c2],
            tensor(828),
            True,
        ),
    ]
    rows = []
    for name, body, variables, x, input_gradient in blocks:

        def gradients(x, body=body, variables=variables, input_gradient=input_gradient):
            with tf.GradientTape() as tape:
                if input_gradient:
                    tape.watch(x)
                total = tf.reduce_sum(body(x))
            return tape.gradient(total, variables + ([x] if input_gradient else []))

        rows.append((name, best_ms(tf.function(body), x), best_ms(tf.function(gradients), x)))
    return rows


def model_step(kind: str, batch: int) -> tuple[float, float, int]:
    """(forward ms, train step ms, params) of one model kind in one tf.function."""
    import keras
    import numpy as np
    import tensorflow as tf

    from kwtui.core.data.frontends import frontend
    from kwtui.core.model import build_model

    sigmoid = kind == "stream"
    shape = frontend("micro" if kind == "stream" else "spectrogram").input_shape  # as the shipped presets pair them
    model = build_model(kind, 1 if sigmoid else 6, sigmoid, 0.001, 0, shape)
    rng = np.random.default_rng(0)
    x = tf.constant(rng.random((batch, *shape), dtype=np.float32))
    y = tf.constant(rng.integers(0, 2 if sigmoid else 6, batch).astype(np.float32 if sigmoid else np.int64))
    loss_function = keras.losses.BinaryCrossentropy() if sigmoid else keras.losses.SparseCategoricalCrossentropy()
    optimizer = model.optimizer

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_function(y, model(x, training=True))
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss

    return best_ms(tf.function(lambda x: model(x, training=True)), x), best_ms(step, x, y), model.count_params()


def keras_fit_rate(batch: int, steps_per_execution: int = 1) -> float:
    import numpy as np

    from kwtui.core.data.spectrogram import INPUT_SHAPE
    from kwtui.core.model import build_model

    model = build_model("cnn", 6, False, 0.001, 0, INPUT_SHAPE)
    model.compile(
        optimizer=model.optimizer, loss=model.loss, metrics=["accuracy"], steps_per_execution=steps_per_execution
    )
    rng = np.random.default_rng(0)
    x = rng.random((batch * 40, *INPUT_SHAPE), dtype=np.float32)
    y = rng.integers(0, 6, batch * 40)
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    started = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=3, verbose=0)
    return len(x) * 3 / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[64, 256])
    args = parser.parse_args()
    from kwtui.core.model import MODELS
    from kwtui.core.native import import_tensorflow_quietly

    import_tensorflow_quietly()
    import tensorflow as tf

    print(
        f"TensorFlow {tf.__version__}, oneDNN {os.environ.get('TF_ENABLE_ONEDNN_OPTS')}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    for batch in args.batch:
        print(f"\nbatch {batch}")
        print(f"  {'cnn block':34s} {'forward ms':>11s} {'fwd+bwd ms':>11s}")
        for name, forward, both in cnn_blocks(batch):
            print(f"  {name:34s} {forward:11.2f} {both:11.2f}")
        print(f"  {'model (one tf.function)':34s} {'forward/s':>11s} {'train step/s':>12s} {'params':>8s}")
        for kind in MODELS:
            forward, step, params = model_step(kind, batch)
            print(f"  {kind:34s} {batch / forward * 1e3:11,.0f} {batch / step * 1e3:12,.0f} {params:8,d}")
        for steps in (1, 8):
            print(
                f"  {f'cnn in model.fit from RAM, {steps} step(s)/call':34s} {'':11s} "
                f"{keras_fit_rate(batch, steps):12,.0f}"
            )
    print(f"\nload average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
