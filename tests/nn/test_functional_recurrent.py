"""Recurrent layers called on symbolic tensors: functional models of SimpleRNN, LSTM and GRU."""

from __future__ import annotations

import numpy as np
import pytest

from engram.nn import Input, Model
from engram.nn import layers as L
from tests.nn.keras_reference import check_against_keras, import_keras


def test_recurrent_layers_in_a_functional_model_match_keras():
    keras = import_keras()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((16, 6, 3)).astype(np.float32)
    y = rng.standard_normal((16, 2)).astype(np.float32)

    def build(lib, Inp, Mod):
        inputs = Inp((6, 3), name="sequences")
        h = lib.GRU(4, return_sequences=True, name="gru")(inputs)
        h = lib.LSTM(5, return_sequences=True, name="lstm")(h)
        out = lib.Dense(2, name="out")(lib.SimpleRNN(3, name="rnn")(h))
        return Mod(inputs, out)

    model = build(L, Input, Model)
    kmodel = build(keras.layers, keras.Input, keras.Model)
    check_against_keras(model, kmodel, x, y, loss="mse")


def test_a_functional_recurrent_call_refuses_initial_state_and_mask():
    inputs = Input((6, 3))
    with pytest.raises(NotImplementedError, match="initial_state= and mask="):
        L.LSTM(4)(inputs, initial_state=[np.zeros((1, 4))])
