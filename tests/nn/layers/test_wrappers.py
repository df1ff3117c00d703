import numpy as np
import pytest

from engram.nn import Sequential
from engram.nn.layers import Dense, SimpleRNN, TimeDistributed
from tests.helpers import check_layer


def test_time_distributed_dense_harness(tmp_path):
    def torch_fn(p, x):
        return x @ p["weights"] + p["bias"]

    check_layer(TimeDistributed, {"layer": Dense(3)}, (2, 4, 5), torch_fn, tmp_path=tmp_path)


def test_time_distributed_matches_dense_on_3d_input():
    x = np.random.default_rng(0).standard_normal((2, 6, 4)).astype(np.float32)
    wrapped = TimeDistributed(Dense(3, activation="relu"))
    dense = Dense(3, activation="relu")
    wrapped.build((6, 4), np.random.default_rng(0))
    dense.build((6, 4), np.random.default_rng(1))
    dense.set_weights(wrapped.get_weights())
    np.testing.assert_allclose(wrapped.forward(x), dense.forward(x), atol=1e-6)


def test_time_distributed_after_return_sequences():
    model = Sequential(
        [SimpleRNN(5, return_sequences=True, input_shape=(7, 2)), TimeDistributed(Dense(1))],
        seed=0,
    )
    assert model.output_shape == (None, 7, 1)
    x = np.zeros((3, 7, 2), dtype="float32")
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, np.zeros((3, 7, 1)), epochs=1, verbose=0)


def test_time_distributed_needs_a_layer_and_a_time_axis():
    with pytest.raises(TypeError, match="expects a Layer instance"):
        TimeDistributed(Dense)
    with pytest.raises(ValueError, match=r"expects inputs of shape \(batch, time, \.\.\.\)"):
        TimeDistributed(Dense(2)).build((4,), np.random.default_rng(0))
