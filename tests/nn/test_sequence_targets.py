"""Per-time-step labels and variable-length inputs, as Keras sequence models use them."""

import numpy as np
import pytest

from engram.nn import Sequential, gradcheck
from engram.nn.layers import Dense, SimpleRNN
from engram.nn.losses import CategoricalCrossentropy, SparseCategoricalCrossentropy
from engram.nn.utils import to_categorical


def sequence_model(seed=0, input_shape=(6, 3)):
    model = Sequential(
        [
            SimpleRNN(8, return_sequences=True, input_shape=input_shape),
            Dense(4, activation="softmax"),
        ],
        seed=seed,
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_sparse_labels_per_time_step_train_and_match_the_flattened_loss():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 6, 3)).astype(np.float32)
    y = rng.integers(0, 4, size=(16, 6))
    model = sequence_model()
    loss, accuracy = model.evaluate(x, y, verbose=0)
    probs = model.predict(x)
    expected = -np.mean(np.log(np.take_along_axis(probs, y[..., None], axis=-1)))
    assert loss == pytest.approx(expected, rel=1e-5)
    assert accuracy == pytest.approx(np.mean(probs.argmax(-1) == y))
    history = model.fit(x, y, epochs=30, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_fused_sequence_cross_entropy_gradients_are_exact():
    rng = np.random.default_rng(1)
    z = rng.standard_normal((3, 5, 4))
    labels = rng.integers(0, 4, size=(3, 5))
    assert gradcheck(SparseCategoricalCrossentropy(), z, labels, logits=True).passed
    one_hot = to_categorical(labels.reshape(-1), 4).reshape(3, 5, 4)
    assert gradcheck(CategoricalCrossentropy(), z, one_hot, logits=True).passed
    probs = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    assert gradcheck(SparseCategoricalCrossentropy(), probs, labels).passed


def test_one_label_per_sample_for_sequence_output_is_refused_clearly():
    model = sequence_model()
    x = np.zeros((4, 6, 3), np.float32)
    with pytest.raises(ValueError, match=r"one label per sample.*every position \(6,\)"):
        model.fit(x, np.zeros(4, int), verbose=0)
    with pytest.raises(ValueError, match=r"shape \(n, 6\)"):
        model.fit(x, np.zeros((4, 5), int), verbose=0)


def test_variable_length_sequences_with_none_time_axis():
    model = sequence_model(input_shape=(None, 3))
    assert model.input_shape == (None, None, 3)
    for steps in (4, 9):
        x = np.zeros((2, steps, 3), np.float32)
        assert model.predict(x).shape == (2, steps, 4)
        model.fit(x, np.zeros((2, steps), int), verbose=0)
    with pytest.raises(ValueError, match=r"built for inputs of shape \(None, None, 3\)"):
        model.predict(np.zeros((2, 4, 5), np.float32))
