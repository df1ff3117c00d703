"""A Keras program runs with only its imports changed (the TensorFlow quick start MLP, on the
scikit-learn 8x8 digits instead of MNIST)."""

from __future__ import annotations

import numpy as np
import pytest

# --- the only lines that differ from the Keras program: `tensorflow.keras` -> `engram.nn` ---
import engram.nn as keras
from engram.nn.layers import Dense, Dropout, Flatten
from engram.nn.models import Sequential

# -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    data = load_digits()
    x = (data.images / 16.0).astype(np.float32)  # (1797, 8, 8), like x_train / 255.0
    y = data.target  # integer labels, shape (n,)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(x))
    x, y = x[order], y[order]
    return (x[:1500], y[:1500]), (x[1500:], y[1500:])


def test_tensorflow_quick_start_mlp(digits):
    (x_train, y_train), (x_test, y_test) = digits
    keras.utils.set_random_seed(0)
    try:
        model = Sequential(
            [
                Flatten(input_shape=(8, 8)),
                Dense(128, activation="relu"),
                Dropout(0.2),
                Dense(10),
            ]
        )
        predictions = model(x_train[:1])
        assert predictions.shape == (1, 10)
        loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        assert loss_fn(y_train[:1], predictions) == pytest.approx(np.log(10), rel=0.3)
        model.compile(optimizer=keras.optimizers.Adam(), loss=loss_fn, metrics=["accuracy"])
        history = model.fit(x_train, y_train, epochs=15, validation_split=0.1, verbose=0)
        loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    finally:
        keras.utils.set_random_seed(None)
    assert history.history["val_accuracy"][-1] > 0.9
    assert accuracy > 0.9 and loss < 0.4
    probs = keras.activations.get("softmax")(model.predict(x_test))
    assert (probs.argmax(axis=1) == y_test).mean() == pytest.approx(accuracy)


def test_one_hot_labels_with_to_categorical(digits):
    (x_train, y_train), (x_test, y_test) = digits
    model = Sequential(
        [
            Dense(64, activation="relu", input_shape=(64,)),
            Dense(10, activation="softmax"),
        ],
        seed=1,
    )
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    y_onehot = keras.utils.to_categorical(y_train, num_classes=10)
    assert y_onehot.shape == (1500, 10) and y_onehot.dtype == np.float32
    model.fit(x_train.reshape(-1, 64), y_onehot, epochs=15, batch_size=32, verbose=0)
    _, accuracy = model.evaluate(
        x_test.reshape(-1, 64), keras.utils.to_categorical(y_test, 10), verbose=0
    )
    assert accuracy > 0.9


def test_to_categorical_like_keras():
    np.testing.assert_array_equal(keras.utils.to_categorical([0, 2, 1]), np.eye(3)[[0, 2, 1]])
    assert keras.utils.to_categorical(np.array([[1], [0]]), 4).shape == (2, 4)
    with pytest.raises(ValueError, match=r"y has labels up to 5, but num_classes=3"):
        keras.utils.to_categorical([0, 5], num_classes=3)
    with pytest.raises(ValueError, match=r"labels outside \[0, 2\): found values from -1"):
        keras.utils.to_categorical([-1, 1])
