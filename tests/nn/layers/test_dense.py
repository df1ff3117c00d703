import numpy as np
import pytest
import torch

from engram.nn.layers import Dense
from tests.helpers import check_layer

TORCH_ACTIVATIONS = {
    "linear": lambda z: z,
    "relu": torch.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "softmax": lambda z: torch.softmax(z, dim=-1),
    "elu": torch.nn.functional.elu,
}


@pytest.mark.parametrize("activation", sorted(TORCH_ACTIVATIONS))
def test_dense_harness(activation, tmp_path):
    act = TORCH_ACTIVATIONS[activation]

    def torch_dense(p, x):
        return act(x @ p["weights"] + p["bias"])

    check_layer(
        Dense, {"units": 4, "activation": activation}, (3, 5), torch_dense, tmp_path=tmp_path
    )


def test_dense_without_bias_on_3d_input(tmp_path):
    check_layer(
        Dense,
        {"units": 3, "use_bias": False},
        (2, 4, 5),
        lambda p, x: x @ p["weights"],
        tmp_path=tmp_path,
    )


def test_dense_kernel_has_keras_layout_and_glorot_range():
    layer = Dense(10)
    layer.build((784,), np.random.default_rng(0))
    weights, bias = layer.get_weights()
    assert weights.shape == (784, 10) and bias.shape == (10,)
    limit = np.sqrt(6 / (784 + 10))
    assert np.abs(weights).max() <= limit and np.abs(weights).max() > 0.9 * limit
    assert not bias.any()


def test_dense_wrong_feature_count_says_add_flatten():
    layer = Dense(10)
    layer.build((784,), np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"built for inputs with 784 features.*Add a Flatten"):
        layer.check_input((32, 28, 28))


def test_dense_rejects_non_positive_units():
    with pytest.raises(ValueError, match="units must be > 0"):
        Dense(0)
