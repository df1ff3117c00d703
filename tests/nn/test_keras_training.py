"""The training loop against Keras 3.15.1 itself: callback hooks (order, indices, logs),
sample and class weights, validation_freq, *_on_batch, batch sources.

Each test runs the same program in Keras (torch backend) and in engram, with Keras's initial
weights copied in, and compares what the loops did.
"""

from __future__ import annotations

import numpy as np
import pytest

from engram.nn import Sequential, callbacks, optimizers
from engram.nn.layers import Dense
from tests.nn.keras_reference import import_keras

HOOKS = [
    f"on_{stage}_{when}"
    for stage in ("train", "epoch", "train_batch", "test", "test_batch", "predict", "predict_batch")
    for when in ("begin", "end")
]


def recorder(base):
    """A callback class (subclass of ``base``) that records every hook call:
    (hook, index or None, sorted log keys) in ``calls`` and the logs in ``logs``."""

    def hook(name, indexed):
        def record(self, *args, **kwargs):
            logs = kwargs.get("logs", args[-1] if len(args) > int(indexed) else None)
            self.calls.append((name, args[0] if indexed else None, sorted(logs or {})))
            self.logs.append(dict(logs or {}))

        return record

    methods = {name: hook(name, "batch" in name or "epoch" in name) for name in HOOKS}

    def init(self):
        base.__init__(self)
        self.calls, self.logs = [], []

    return type("Recorder", (base,), {"__init__": init, **methods})


def data(n=10, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3)).astype(np.float32)
    return x, (x[:, 0] + 0.3 * x[:, 1] > 0).astype(np.int64)


def pair(keras, loss="sparse_categorical_crossentropy", metrics=("accuracy",), lr=0.1):
    """The same compiled model in Keras and engram (Keras's weights copied in)."""
    kmodel = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(4, activation="tanh"),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    model = Sequential(
        [Dense(4, activation="tanh", input_shape=(3,)), Dense(2, activation="softmax")], seed=0
    )
    model.set_weights([np.asarray(w) for w in kmodel.get_weights()])
    kmodel.compile(keras.optimizers.SGD(lr), loss, metrics=list(metrics))
    model.compile(optimizers.SGD(lr), loss, metrics=list(metrics))
    return kmodel, model


def assert_logs_close(ours, theirs, atol=1e-5):
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        assert sorted(a) == sorted(b)
        for key in b:
            if key == "outputs":
                np.testing.assert_allclose(a[key], np.asarray(b[key]), atol=atol)
            else:
                assert a[key] == pytest.approx(float(b[key]), abs=atol), key


@pytest.mark.parametrize("validation_freq", [1, 2, [1]])
def test_callback_hooks_order_indices_and_logs_match_keras(validation_freq):
    keras = import_keras()
    kmodel, model = pair(keras)
    x, y = data(10)
    xv, yv = data(5, seed=1)
    recs = []
    for m, base in ((kmodel, keras.callbacks.Callback), (model, callbacks.Callback)):
        rec = recorder(base)()
        m.fit(
            x,
            y,
            batch_size=4,
            epochs=2,
            shuffle=False,
            verbose=0,
            validation_data=(xv, yv),
            validation_freq=validation_freq,
            callbacks=[rec],
        )
        m.evaluate(xv, yv, batch_size=2, verbose=0, callbacks=[rec])
        m.predict(x, batch_size=4, verbose=0, callbacks=[rec])
        recs.append(rec)
    ours, theirs = recs[1], recs[0]
    assert ours.calls == theirs.calls
    # the logs themselves: running means in batch logs, predict's batch outputs
    assert_logs_close(ours.logs, theirs.logs)


def test_batch_hooks_alias_on_batch_begin_and_end_as_in_keras():
    seen = []

    class Old(callbacks.Callback):
        def on_batch_begin(self, batch, logs=None):
            seen.append(("begin", batch))

        def on_batch_end(self, batch, logs=None):
            seen.append(("end", batch, sorted(logs)))

    x, y = data(6)
    model = Sequential([Dense(2, activation="softmax", input_shape=(3,))], seed=0)
    model.compile("sgd", "sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[Old()])
    model.evaluate(x, y, verbose=0, callbacks=[Old()])  # test batches are not on_batch_*
    assert seen == [("begin", 0), ("end", 0, ["loss"]), ("begin", 1), ("end", 1, ["loss"])]
