"""ReduceLROnPlateau, LearningRateScheduler and CSVLogger against Keras 3.15.1: the same
model (Keras's weights copied in), the same epochs without shuffling, then the learning-rate
trajectory, the weights and the CSV file compared."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from engram.nn import Sequential, callbacks, optimizers
from engram.nn.layers import Dense
from tests.nn.keras_reference import import_keras

RNG = np.random.default_rng(11)
X = RNG.standard_normal((32, 4)).astype(np.float32)
Y = (X @ RNG.standard_normal((4, 2))).astype(np.float32)
FIT = {"batch_size": 8, "shuffle": False, "verbose": 0}


def twins(keras, lr=0.05, metrics=None):
    """The same two-layer model in Keras and engram, SGD(lr), MSE."""
    keras.utils.set_random_seed(0)  # the same initial weights (and run) every time
    kmodel = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(5, activation="tanh"), keras.layers.Dense(2)]
    )
    model = Sequential([Dense(5, activation="tanh", input_dim=4), Dense(2)])
    model.set_weights([np.asarray(w) for w in kmodel.get_weights()])
    kmodel.compile(keras.optimizers.SGD(learning_rate=lr), "mse", metrics=metrics)
    model.compile(optimizers.SGD(learning_rate=lr), "mse", metrics=metrics)
    return model, kmodel


def recorder(base, watch=None):
    """A callback (engram's or Keras's base class) that keeps every epoch's logs, as the
    callbacks before it left them, and the counters of the ReduceLROnPlateau ``watch``."""

    class Recorder(base):
        def __init__(self):
            super().__init__()
            self.logs = []

        def on_epoch_end(self, epoch, logs=None):
            self.logs.append(dict(logs))
            if watch is not None:
                self.logs[-1]["counters"] = (watch.wait, watch.cooldown_counter)

    return Recorder()


def assert_same_run(model, kmodel, ours, theirs, key="learning_rate"):
    assert [set(logs) for logs in ours.logs] == [set(logs) for logs in theirs.logs]
    np.testing.assert_allclose(
        [logs[key] for logs in ours.logs], [logs[key] for logs in theirs.logs], rtol=1e-6
    )
    for a, b in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_allclose(a, np.asarray(b), atol=1e-5)


@pytest.mark.parametrize(
    "kwargs",
    [
        # "max" on a falling loss never improves: a reduction every `patience` epochs, with a
        # cooldown between, down to min_lr
        {"monitor": "loss", "mode": "max", "factor": 0.5, "patience": 1, "cooldown": 2,
         "min_lr": 0.01},
        {"monitor": "loss", "mode": "max", "factor": 0.3, "patience": 2, "min_lr": 0.0},
        # at min_lr Keras stops counting reductions (its float32 rate is not above min_lr)
        {"monitor": "loss", "mode": "max", "factor": 0.5, "patience": 1, "min_lr": 0.02},
        # min mode: a reduction when the epoch's gain falls under min_delta
        {"monitor": "val_loss", "factor": 0.5, "patience": 0, "min_delta": 0.2},
    ],
)  # fmt: skip
def test_reduce_lr_on_plateau_follows_keras(kwargs):
    keras = import_keras()
    model, kmodel = twins(keras)
    plateaus = callbacks.ReduceLROnPlateau(**kwargs), keras.callbacks.ReduceLROnPlateau(**kwargs)
    ours = recorder(callbacks.Callback, plateaus[0])
    theirs = recorder(keras.callbacks.Callback, plateaus[1])
    fit = {**FIT, "epochs": 9, "validation_data": (X[:8], Y[:8])}
    model.fit(X, Y, callbacks=[plateaus[0], ours], **fit)
    kmodel.fit(X, Y, callbacks=[plateaus[1], theirs], **fit)
    assert_same_run(model, kmodel, ours, theirs)
    # the counters too: at min_lr Keras (float32) makes no more reductions, so no cooldown
    assert [logs["counters"] for logs in ours.logs] == [logs["counters"] for logs in theirs.logs]
    rates = [logs["learning_rate"] for logs in ours.logs]
    assert len(set(rates)) > 2  # the rate did change, more than once


@pytest.mark.parametrize(
    "schedule",
    [
        lambda epoch, lr: lr if epoch < 2 else lr * 0.5,
        lambda epoch: 0.1 / (1 + epoch),  # Keras's older one-argument form
    ],
)
def test_learning_rate_scheduler_follows_keras(schedule):
    keras = import_keras()
    model, kmodel = twins(keras)
    ours, theirs = recorder(callbacks.Callback), recorder(keras.callbacks.Callback)
    model.fit(X, Y, epochs=5, callbacks=[callbacks.LearningRateScheduler(schedule), ours], **FIT)
    kmodel.fit(
        X, Y, epochs=5, callbacks=[keras.callbacks.LearningRateScheduler(schedule), theirs], **FIT
    )
    assert_same_run(model, kmodel, ours, theirs)


def test_learning_rate_scheduler_prints_like_keras(capsys):
    model = Sequential([Dense(1, input_dim=4)], seed=0)
    model.compile(optimizers.SGD(learning_rate=0.1), "mse")
    cb = callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5, verbose=1)
    model.fit(X, Y[:, :1], epochs=1, callbacks=[cb], **FIT)
    assert (
        "Epoch 1: LearningRateScheduler setting learning rate to 0.05." in capsys.readouterr().out
    )


def read_rows(path):
    """The file's rows, each line split on its own separator (an appended run may use
    another one)."""
    with open(path, newline="") as handle:
        lines = handle.read().split("\r\n")
    return [next(csv.reader([line], delimiter=";" if ";" in line else ",")) for line in lines]


def assert_same_csv(ours_path, theirs_path):
    ours_bytes, theirs_bytes = ours_path.read_bytes(), theirs_path.read_bytes()
    assert ours_bytes.count(b"\r\n") == theirs_bytes.count(b"\r\n") > 0
    assert ours_bytes.count(b";") == theirs_bytes.count(b";")
    ours, theirs = read_rows(ours_path), read_rows(theirs_path)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            try:
                assert float(x) == pytest.approx(float(y), rel=1e-5), (a, b)
            except ValueError:  # the header and NA cells are the same text
                assert x == y, (a, b)


def test_csv_logger_writes_the_file_keras_writes(tmp_path):
    keras = import_keras()
    model, kmodel = twins(keras, metrics=["mae"])
    ours, theirs = tmp_path / "engram.csv", tmp_path / "keras.csv"
    # without validation data Keras adds val_* columns of NA; ReduceLROnPlateau before the
    # logger puts learning_rate (and val_learning_rate) in them
    plateau = {"monitor": "loss", "mode": "max", "patience": 1, "factor": 0.5}
    model.fit(
        X,
        Y,
        epochs=3,
        **FIT,
        callbacks=[callbacks.ReduceLROnPlateau(**plateau), callbacks.CSVLogger(ours)],
    )
    keras_callbacks = [keras.callbacks.ReduceLROnPlateau(**plateau)]
    kmodel.fit(X, Y, epochs=3, **FIT, callbacks=[*keras_callbacks,
        keras.callbacks.CSVLogger(theirs)])  # fmt: skip
    assert_same_csv(ours, theirs)
    header = ours.read_bytes().split(b"\r\n")[0]
    assert (
        header
        == theirs.read_bytes().split(b"\r\n")[0]
        == (b"epoch,learning_rate,loss,mae,val_learning_rate,val_loss,val_mae")
    )
    # a second run appends its rows (with validation, another separator), no second header
    fit = {**FIT, "epochs": 2, "validation_data": (X[:8], Y[:8])}
    model.fit(X, Y, **fit, callbacks=[callbacks.CSVLogger(ours, separator=";", append=True)])
    kmodel.fit(X, Y, **fit, callbacks=[keras.callbacks.CSVLogger(theirs, ";", append=True)])
    assert_same_csv(ours, theirs)
    assert ours.read_bytes().count(b"epoch") == 1
    # append to a file that does not exist yet: header first, as Keras
    model.fit(X, Y, **fit, callbacks=[callbacks.CSVLogger(tmp_path / "e2.csv", append=True)])
    kmodel.fit(X, Y, **fit, callbacks=[keras.callbacks.CSVLogger(tmp_path / "k2.csv", append=True)])
    assert_same_csv(tmp_path / "e2.csv", tmp_path / "k2.csv")


def test_csv_logger_file_is_complete_after_every_epoch_and_when_the_run_dies(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("stale content of an earlier run\n")
    seen = []

    class Dies(callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen.append(path.read_bytes())  # emptied when training begins, as Keras

        def on_epoch_end(self, epoch, logs=None):
            seen.append(path.read_bytes())
            if epoch == 2:
                raise KeyboardInterrupt  # the run dies after its third epoch

    model = Sequential([Dense(2, input_dim=4)], seed=0)
    model.compile(optimizers.SGD(learning_rate=0.01), "mse")
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, Y, epochs=6, callbacks=[callbacks.CSVLogger(path), Dies()], **FIT)
    assert seen[0] == b""
    for epoch, content in enumerate(seen[1:]):
        lines = content.split(b"\r\n")
        assert lines[0] == b"epoch,loss,val_loss" and lines[-1] == b""  # no partial row
        assert [line.split(b",")[0] for line in lines[1:-1]] == [
            str(e).encode() for e in range(epoch + 1)
        ]
    assert path.read_bytes() == seen[-1]
    assert [p.name for p in tmp_path.iterdir()] == ["log.csv"]  # no temporary file left


def test_rate_changing_callbacks_refuse_an_optimizer_with_a_schedule():
    model = Sequential([Dense(2, input_dim=4)], seed=0)
    model.compile(optimizers.SGD(optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)), "mse")
    for cb in [
        callbacks.ReduceLROnPlateau(monitor="loss"),
        callbacks.LearningRateScheduler(lambda e, lr: lr),
    ]:
        with pytest.raises(TypeError, match="created with a LearningRateSchedule"):
            model.fit(X, Y, epochs=1, callbacks=[cb], **FIT)
    assert model.optimizer.iterations == 0  # refused before the first step


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: callbacks.ReduceLROnPlateau(factor=1.0), ValueError, r"factor must be in \(0, 1"),
        (lambda: callbacks.ReduceLROnPlateau(factor=0), ValueError, r"factor must be in \(0, 1"),
        (lambda: callbacks.ReduceLROnPlateau(patience=-1), ValueError, "patience must be >= 0"),
        (lambda: callbacks.ReduceLROnPlateau(cooldown=1.5), TypeError, "cooldown must be an int"),
        (lambda: callbacks.ReduceLROnPlateau(min_lr=-1.0), ValueError, "min_lr must be >= 0"),
        (lambda: callbacks.ReduceLROnPlateau(mode="up"), ValueError, "mode must be"),
        (lambda: callbacks.ReduceLROnPlateau(epsilon=1e-3), TypeError, "epsilon"),
        (lambda: callbacks.LearningRateScheduler(0.1), TypeError, "schedule must be a function"),
        (lambda: callbacks.CSVLogger("a.csv", separator=";;"), ValueError, "one character"),
        (lambda: callbacks.CSVLogger(None), TypeError, "filename must be a path"),
    ],
)  # fmt: skip
def test_bad_arguments_are_refused_when_made(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_bad_schedule_output_and_unlogged_monitor_are_named():
    model = Sequential([Dense(2, input_dim=4)], seed=0)
    model.compile(optimizers.SGD(learning_rate=0.1), "mse")
    bad = callbacks.LearningRateScheduler(lambda epoch: -1.0)
    with pytest.raises(ValueError, match="returned float -1.0 for epoch 0; it must return"):
        model.fit(X, Y, epochs=1, callbacks=[bad], **FIT)
    with pytest.raises(ValueError, match="ReduceLROnPlateau is watching 'val_loss'.*validation"):
        model.fit(X, Y, epochs=1, callbacks=[callbacks.ReduceLROnPlateau()], **FIT)
