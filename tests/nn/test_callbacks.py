"""Callbacks: EarlyStopping, ModelCheckpoint, TerminateOnNaN, progress output, History."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

from engram.nn import DivergenceWarning, Sequential, load_model, optimizers
from engram.nn.callbacks import (
    Callback,
    EarlyStopping,
    LambdaCallback,
    ModelCheckpoint,
    TerminateOnNaN,
)
from engram.nn.layers import Dense


def data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(int)


def model(seed=0, lr=0.01):
    m = Sequential(
        [Dense(8, activation="relu", input_dim=3), Dense(2, activation="softmax")], seed=seed
    )
    m.compile(optimizers.Adam(lr), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


class Scripted(Callback):
    """Overwrites the monitored value with a script, and records each epoch's weights."""

    def __init__(self, key, values):
        super().__init__()
        self.key, self.values, self.weights = key, values, []

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]
        self.weights.append(self.model.get_weights())


def test_early_stopping_waits_patience_epochs_after_the_best():
    x, y = data()
    script = Scripted("val_loss", [1.0, 0.5, 0.6, 0.7, 0.8, 0.4, 0.3])
    stop = EarlyStopping(patience=2)
    h = model().fit(x, y, epochs=7, validation_split=0.25, callbacks=[script, stop], verbose=0)
    assert h.epoch == [0, 1, 2, 3]  # best at epoch 1, then 2 epochs without improvement
    assert stop.stopped_epoch == 3 and stop.best_epoch == 1 and stop.best == 0.5


def test_early_stopping_restore_best_weights_restores_the_best_epoch():
    x, y = data()
    script = Scripted("val_loss", [1.0, 0.2, 0.6, 0.7, 0.8])
    m = model()
    m.fit(
        x,
        y,
        epochs=5,
        validation_split=0.25,
        verbose=0,
        callbacks=[script, EarlyStopping(patience=2, restore_best_weights=True)],
    )
    assert len(script.weights) == 4
    for a, b in zip(m.get_weights(), script.weights[1], strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(m.get_weights()[0], script.weights[-1][0])


def test_early_stopping_mode_auto_maximizes_accuracy():
    stop = EarlyStopping(monitor="val_accuracy")
    assert stop.mode == "max"
    assert EarlyStopping(monitor="loss").mode == "min"
    x, y = data()
    script = Scripted("val_accuracy", [0.5, 0.9, 0.8, 0.85, 0.95])
    h = model().fit(
        x,
        y,
        epochs=5,
        validation_split=0.25,
        verbose=0,
        callbacks=[script, EarlyStopping(monitor="val_accuracy", patience=1)],
    )
    assert h.epoch == [0, 1, 2]


def test_early_stopping_min_delta_and_baseline():
    x, y = data()
    script = Scripted("loss", [1.0, 0.99, 0.98, 0.97])
    h = model().fit(
        x, y, epochs=4, callbacks=[script, EarlyStopping("loss", min_delta=0.05)], verbose=0
    )
    assert h.epoch == [0, 1]


def test_a_monitor_that_is_never_logged_fails_before_training():
    x, y = data()
    m = model()
    before = m.get_weights()
    with pytest.raises(
        ValueError,
        match=r"EarlyStopping is watching 'val_loss', which is not among "
        r"the logged values: loss, accuracy\. Pass validation",
    ):
        m.fit(x, y, epochs=2, callbacks=[EarlyStopping()], verbose=0)
    with pytest.raises(
        ValueError,
        match=r"ModelCheckpoint is watching 'val_acc', which is not "
        r"among the logged values: loss, accuracy, val_loss, "
        r"val_accuracy",
    ):
        m.fit(
            x,
            y,
            epochs=2,
            validation_split=0.2,
            verbose=0,
            callbacks=[ModelCheckpoint("unused.engram", monitor="val_acc", save_best_only=True)],
        )
    assert m.optimizer.iterations == 0
    np.testing.assert_array_equal(before[0], m.get_weights()[0])


def test_early_stopping_bad_mode():
    with pytest.raises(ValueError, match="mode must be 'auto', 'min' or 'max'. Got 'best'"):
        EarlyStopping(mode="best")


def test_model_checkpoint_formats_names_and_files_load_back(tmp_path):
    x, y = data()
    m = model()
    pattern = str(tmp_path / "ckpt-{epoch:02d}-{loss:.3f}.engram")
    m.fit(x, y, epochs=3, callbacks=[ModelCheckpoint(pattern)], verbose=0)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 3 and files[0].startswith("ckpt-01-") and files[2].startswith("ckpt-03-")
    last = load_model(tmp_path / files[2])
    for a, b in zip(last.get_weights(), m.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(last.predict(x), m.predict(x))


def test_model_checkpoint_save_best_only(tmp_path):
    x, y = data()
    script = Scripted("val_loss", [1.0, 0.5, 0.7, 0.4, 0.9])
    path = tmp_path / "best-{epoch}.engram"
    m = model()
    m.fit(
        x,
        y,
        epochs=5,
        validation_split=0.25,
        verbose=0,
        callbacks=[script, ModelCheckpoint(str(path), save_best_only=True)],
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "best-1.engram",
        "best-2.engram",
        "best-4.engram",
    ]
    best = load_model(tmp_path / "best-4.engram")
    for a, b in zip(best.get_weights(), script.weights[3], strict=True):
        np.testing.assert_array_equal(a, b)


def test_model_checkpoint_weights_only(tmp_path):
    x, y = data()
    m = model()
    path = tmp_path / "w.engram"
    m.fit(x, y, epochs=1, callbacks=[ModelCheckpoint(str(path), save_weights_only=True)], verbose=0)
    other = model(seed=1)
    other.load_weights(path)
    for a, b in zip(other.get_weights(), m.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_terminate_on_nan_stops_at_the_first_bad_batch(capsys):
    x, y = data(256)
    m = Sequential([Dense(1, input_dim=3)], seed=0)
    m.compile(optimizers.SGD(1e30), "mse")
    batches = []
    with pytest.warns(DivergenceWarning, match="Training diverged at epoch 1: loss = nan"):
        h = m.fit(
            x,
            y * 1e30,
            epochs=5,
            batch_size=8,
            verbose=0,
            callbacks=[
                TerminateOnNaN(),
                LambdaCallback(on_train_batch_end=lambda b, logs: batches.append(b)),
            ],
        )
    assert len(h.epoch) == 1 and not np.isfinite(h.history["loss"][0])
    assert h.diverged_epoch == 0
    assert len(batches) < 256 // 8
    assert "invalid loss, terminating training" in capsys.readouterr().out


def test_progress_bar_with_verbose_1(capsys):
    x, y = data()
    model().fit(x, y, epochs=2, batch_size=16, verbose=1, validation_split=0.25)
    captured = capsys.readouterr()
    text = captured.err + captured.out
    assert "Epoch 1/2" in text and "Epoch 2/2" in text
    # each epoch's last line fits 80 columns and still shows the validation numbers
    last = [seg for seg in re.split(r"[\r\n]", text) if "Epoch 2/2" in seg][-1]
    assert " | val loss " in last and " acc " in last
    assert len(last.rstrip()) <= 80, last


def test_verbose_2_prints_one_line_per_epoch(capsys):
    x, y = data()
    model().fit(x, y, epochs=3, verbose=2, validation_split=0.25)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.strip()]
    assert len(lines) == 3
    assert lines[0].startswith("Epoch 1/3 - loss: ") and "val_accuracy: " in lines[0]


def test_verbose_0_prints_nothing(capsys):
    x, y = data()
    model().fit(x, y, epochs=2, verbose=0)
    model().evaluate(x, y, verbose=0)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_lambda_callback_and_hook_order():
    x, y = data(32)
    events = []
    cb = LambdaCallback(
        on_train_begin=lambda logs: events.append("begin"),
        on_epoch_end=lambda epoch, logs: events.append(f"epoch{epoch}:{sorted(logs)}"),
        on_train_end=lambda logs: events.append("end"),
    )
    model().fit(x, y, epochs=2, batch_size=32, callbacks=[cb], verbose=0)
    assert events == ["begin", "epoch0:['accuracy', 'loss']", "epoch1:['accuracy', 'loss']", "end"]


def test_callbacks_must_be_callback_instances():
    x, y = data(8)
    with pytest.raises(
        TypeError,
        match="callbacks must be Callback instances such as "
        r"EarlyStopping\(\). Got function instead.",
    ):
        model().fit(x, y, callbacks=[lambda: None], verbose=0)


# ------------------------------------------------------------------------- divergence
def diverging(seed=0):
    m = Sequential([Dense(1, input_dim=3)], seed=seed)
    m.compile(optimizers.SGD(1e30), "mse")
    x, y = data(64)
    return m, x, y * 1e30


def test_divergence_is_named_once_and_training_goes_on_as_in_keras():
    m, x, y = diverging()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        h = m.fit(x, y, epochs=4, batch_size=8, verbose=0)
    assert [type(w.message) for w in caught] == [DivergenceWarning]  # no NumPy overflow noise
    assert re.match(
        r"Training diverged at epoch 1: loss = (nan|inf)\. The weights are no longer finite.*"
        r"Lower the learning_rate, clip the gradients .*add callbacks=\[TerminateOnNaN\(\)\]",
        str(caught[0].message),
    )
    assert h.diverged and h.diverged_epoch == 0 and h.epoch == [0, 1, 2, 3]
    good = model()
    good.fit(*data(), epochs=2, verbose=0)
    assert not good.history.diverged and good.history.diverged_epoch is None


class Sabotage(Callback):
    """Turns the weights into NaN at the start of one epoch, as a blow-up would."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            self.model.layers[0].params["weights"][...] = np.nan


@pytest.mark.parametrize("terminate", ["first", "last", "none"])
@pytest.mark.parametrize("weights_only", [True, False])
def test_model_checkpoint_never_saves_nan_weights_over_a_good_checkpoint(
    tmp_path, terminate, weights_only
):
    # the case: TerminateOnNaN before ModelCheckpoint stops the epoch at the bad batch,
    # and the epoch's end used to save the NaN model over the good file
    x, y = data()
    m = model()
    path = tmp_path / "ckpt.engram"
    checkpoint = ModelCheckpoint(str(path), save_weights_only=weights_only)
    order = {
        "first": [TerminateOnNaN(), checkpoint],
        "last": [checkpoint, TerminateOnNaN()],
        "none": [checkpoint],  # training goes on through epochs 2 to 4, all NaN
    }[terminate]
    kept = []
    keep = LambdaCallback(on_epoch_end=lambda e, logs: kept.append(m.get_weights()))
    with pytest.warns(DivergenceWarning) as caught:
        m.fit(x, y, epochs=4, verbose=0, callbacks=[keep, Sabotage(epoch=1), *order])
    messages = [str(w.message) for w in caught]
    assert any(
        re.match(
            r"ModelCheckpoint did not save epoch 2 to .*ckpt\.engram: training diverged "
            r"\(not finite: loss, .*\)\. The last good checkpoint is kept; no later epoch",
            text,
        )
        for text in messages
    )
    assert sum("ModelCheckpoint" in text for text in messages) == 1  # once, not every epoch
    assert not any("did not save epoch 1" in text for text in messages)
    restored = model(seed=5)
    restored.load_weights(path)
    for a, b in zip(restored.get_weights(), kept[0], strict=True):
        np.testing.assert_array_equal(a, b)  # epoch 1's weights, intact


def test_checkpoint_file_name_keys_are_checked_before_training(tmp_path):
    x, y = data()
    m = model()
    before = m.get_weights()
    # Keras 3.15.1 fails after the first epoch, with a bare KeyError
    with pytest.raises(
        ValueError,
        match=r"ModelCheckpoint filepath '.*m-\{val_loss\}\.engram' uses \{val_loss\}, which is "
        r"not among the values this run logs: epoch, loss, accuracy\. Pass validation data",
    ):
        m.fit(
            x,
            y,
            epochs=2,
            verbose=0,
            callbacks=[ModelCheckpoint(str(tmp_path / "m-{val_loss}.engram"))],
        )
    with pytest.raises(ValueError, match=r"uses \{acc\}, which is not among"):
        m.fit(x, y, verbose=0, callbacks=[ModelCheckpoint(str(tmp_path / "m-{acc}.engram"))])
    with pytest.raises(ValueError, match=r"cannot be formatted .*Use e\.g\. 'ckpt-\{epoch:02d\}"):
        m.fit(x, y, verbose=0, callbacks=[ModelCheckpoint(str(tmp_path / "m-{epoch:q}.engram"))])
    with pytest.raises(ValueError, match="is not a valid pattern"):
        m.fit(x, y, verbose=0, callbacks=[ModelCheckpoint(str(tmp_path / "m-{epoch.engram"))])
    assert m.optimizer.iterations == 0 and not list(tmp_path.iterdir())
    np.testing.assert_array_equal(before[0], m.get_weights()[0])
    pattern = str(tmp_path / "m-{epoch:02d}-{val_loss:.2f}-{accuracy:.2f}.engram")
    m.fit(x, y, verbose=0, validation_split=0.25, callbacks=[ModelCheckpoint(pattern)])
    assert len(list(tmp_path.iterdir())) == 1


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        # Keras 3.15.1 accepts patience=-3 and stops as with 0
        ({"patience": -3}, ValueError, "patience must be >= 0. Got -3 instead."),
        ({"patience": 2.5}, TypeError, "patience must be an int. Got float 2.5"),
        ({"start_from_epoch": -1}, ValueError, "start_from_epoch must be >= 0"),
        ({"min_delta": "0.1"}, TypeError, "min_delta must be a number"),
        ({"min_delta": float("nan")}, ValueError, "min_delta must be a finite number"),
        ({"baseline": float("inf")}, ValueError, "baseline must be a finite number"),
    ],
)
def test_early_stopping_arguments_are_checked(kwargs, error, message):
    with pytest.raises(error, match=message):
        EarlyStopping(**kwargs)
    EarlyStopping(min_delta=-0.1, baseline=0.5)  # Keras takes min_delta's absolute value


def test_early_stopping_restores_only_finite_weights():
    m, x, y = diverging()
    stop = EarlyStopping(monitor="loss", patience=1, restore_best_weights=True)
    with pytest.warns(DivergenceWarning):
        h = m.fit(x, y, epochs=5, batch_size=8, verbose=0, callbacks=[stop])
    assert h.diverged_epoch == 0 and len(h.epoch) == 2  # no epoch improved on the first
    assert not np.isfinite(m.get_weights()[0]).all()  # nothing better to restore
