"""Where engram's fail-fast behaviour says "as Keras does", Keras 3.15.1 (torch backend) is run
to show it; where engram refuses what Keras accepts, the test shows what Keras does instead."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

from engram.nn import DivergenceWarning, Sequential, optimizers
from engram.nn.callbacks import History
from engram.nn.layers import Dense, Embedding

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")


def diverging_data():
    x = np.random.default_rng(0).standard_normal((64, 3)).astype(np.float32)
    return x, (x[:, :1] * 1e30).astype(np.float32)


def test_a_diverging_fit_goes_on_through_every_epoch_in_both():
    x, y = diverging_data()
    theirs = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    theirs.compile(keras.optimizers.SGD(1e30), "mse")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        keras_history = theirs.fit(x, y, epochs=3, batch_size=8, verbose=0)
    ours = Sequential([Dense(1, input_dim=3)], seed=0)
    ours.compile(optimizers.SGD(1e30), "mse")
    with pytest.warns(DivergenceWarning):
        history = ours.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert len(keras_history.history["loss"]) == len(history.history["loss"]) == 3
    assert not np.isfinite(keras_history.history["loss"][-1])
    assert not np.isfinite(history.history["loss"][-1]) and history.diverged_epoch == 0


def test_one_callback_outside_a_list_is_accepted_by_both():
    x, y = diverging_data()
    theirs = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    theirs.compile("sgd", "mse")
    theirs.fit(x, y / 1e30, epochs=1, verbose=0, callbacks=keras.callbacks.History())
    ours = Sequential([Dense(1, input_dim=3)], seed=0)
    ours.compile("sgd", "mse")
    ours.fit(x, y / 1e30, epochs=1, verbose=0, callbacks=History())


def test_what_keras_does_with_the_values_engram_refuses():
    # each accepted silently by Keras 3.15.1, each refused by engram (tests in test_bad_input,
    # test_optimizers and test_callbacks)
    keras.optimizers.RMSprop(epsilon=-1)
    keras.optimizers.RMSprop(rho=5)
    keras.optimizers.Adagrad(initial_accumulator_value=-1)
    assert keras.callbacks.EarlyStopping(patience=-3).patience == -3
    loss = keras.losses.CategoricalCrossentropy()(np.array([[-1.0, 2.0]]), np.array([[0.3, 0.7]]))
    assert float(loss) < 0
    table = keras.Sequential([keras.Input((1,)), keras.layers.Embedding(5, 2)])
    ids = np.array([[4.99]], np.float32)
    np.testing.assert_array_equal(  # 4.99 is truncated to token 4
        table.predict(ids, verbose=0), table.predict(np.array([[4]]), verbose=0)
    )
    with pytest.raises(ValueError, match="not whole numbers"):
        Sequential([Embedding(5, 2, input_shape=(1,))], seed=0).predict(ids)


def test_keras_also_refuses_one_optimizer_for_two_models():
    x, y = diverging_data()
    opt = keras.optimizers.SGD()
    first = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    first.compile(opt, "mse")
    first.fit(x, y / 1e30, epochs=1, verbose=0)
    second = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    second.compile(opt, "mse")
    with pytest.raises(ValueError, match="Unknown variable"):
        second.fit(x, y / 1e30, epochs=1, verbose=0)
