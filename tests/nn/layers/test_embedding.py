import numpy as np
import pytest
import torch

from engram.nn import Sequential
from engram.nn.layers import GRU, Dense, Embedding
from engram.nn.optimizers import Adam
from tests.helpers import check_layer


def torch_embedding(p, x):
    # indices carry no gradient; "+ 0 * x" gives the input a zero gradient to compare with
    return torch.nn.functional.embedding(x.round().long(), p["embeddings"]) + 0 * x[..., None]


def test_embedding_harness(tmp_path):
    x = np.random.default_rng(0).integers(0, 7, size=(3, 5)).astype(np.float32)
    x[0, :3] = 2  # a repeated token: its gradient rows must add up
    check_layer(
        Embedding, {"input_dim": 7, "output_dim": 4}, x.shape, torch_embedding, x=x,
        tmp_path=tmp_path,
    )  # fmt: skip


def test_embedding_scatter_adds_repeated_tokens():
    layer = Embedding(5, 2)
    x = np.array([[1, 1, 3]])
    y = layer(x)
    np.testing.assert_array_equal(y[0, 0], layer.params["embeddings"][1])
    layer.backward(np.ones_like(y))
    np.testing.assert_array_equal(layer.grads["embeddings"][:, 0], [0, 2, 0, 1, 0])
    assert layer.params["embeddings"].min() >= -0.05 and layer.params["embeddings"].max() <= 0.05


def test_embedding_rejects_out_of_range_indices():
    with pytest.raises(ValueError, match=r"indices outside \[0, 5\), such as \[7\]"):
        Embedding(5, 2)(np.array([[1, 7]]))
    with pytest.raises(ValueError, match="input_dim must be > 0"):
        Embedding(0, 2)


def test_embedding_feeds_a_recurrent_model():
    rng = np.random.default_rng(0)
    tokens = rng.integers(1, 6, size=(128, 5))
    y = (tokens[:, 0] > 3).astype(int)
    model = Sequential(
        [Embedding(6, 4, input_shape=(5,)), GRU(8), Dense(2, activation="softmax")], seed=0
    )
    model.compile(
        optimizer=Adam(learning_rate=0.02),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(tokens, y, epochs=30, batch_size=32, verbose=0)
    assert history.history["accuracy"][-1] > 0.9
