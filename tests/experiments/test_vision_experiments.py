"""The article's two Keras programs run on engram with only their imports changed, and the
vision experiments' helpers do what they say."""

from __future__ import annotations

import numpy as np
import pytest

from engram.experiments import _vision as V
from engram.experiments.visual_filters import gabor, gabor_bank, gabor_match

ENGRAM_IMPORTS = """
from engram.nn.models import Sequential
from engram.nn.layers import Conv2D, Dense, Flatten, MaxPooling2D
"""
KERAS_IMPORTS = """
from tensorflow.keras.models import Sequential
from tensorflow.keras.layers import Conv2D, Dense, Flatten, MaxPooling2D
"""

# The article's programs, as written for Keras, after loading (x_train, y_train), (x_test, y_test)
# with x in [0, 1] of shape (n, 28, 28). Only the import block above is swapped.
ARTICLE_MLP = """
model = Sequential([
    Flatten(input_shape=(28, 28)),
    Dense(10, activation='relu'),
    Dense(10, activation='relu'),
    Dense(10, activation='softmax')
])
model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])
model.fit(x_train, y_train, epochs=5)
test_loss, test_acc = model.evaluate(x_test, y_test)
"""
ARTICLE_CNN = """
x_train = x_train.reshape(-1, 28, 28, 1)
x_test = x_test.reshape(-1, 28, 28, 1)
model = Sequential([
    Conv2D(32, (3, 3), activation='relu', input_shape=(28, 28, 1)),
    MaxPooling2D((2, 2)),
    Conv2D(64, (3, 3), activation='relu'),
    MaxPooling2D((2, 2)),
    Flatten(),
    Dense(64, activation='relu'),
    Dense(10, activation='softmax')
])
model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])
model.fit(x_train, y_train, epochs=5)
test_loss, test_acc = model.evaluate(x_test, y_test)
"""


@pytest.fixture(scope="module")
def small_digits():
    (x_train, y_train), (x_test, y_test) = V.load_images("digits")
    return (x_train[:64], y_train[:64]), (x_test[:32], y_test[:32])


@pytest.mark.parametrize("program", [ARTICLE_MLP, ARTICLE_CNN], ids=["mlp", "cnn"])
def test_article_program_runs_with_only_the_import_changed(program, small_digits, capsys):
    (x_train, y_train), (x_test, y_test) = small_digits
    namespace = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    exec(ENGRAM_IMPORTS + program, namespace)  # noqa: S102 - our own fixed program text
    model = namespace["model"]
    assert model.output_shape == (None, 10)
    assert 0.0 <= namespace["test_acc"] <= 1.0 and np.isfinite(namespace["test_loss"])
    assert len(model.history.history["loss"]) == 5
    assert KERAS_IMPORTS.replace("tensorflow.keras", "engram.nn") == ENGRAM_IMPORTS
    capsys.readouterr()  # the progress bars


def test_article_cnn_has_keras_parameter_counts():
    model = V.build_cnn(seed=0, learning_rate=1e-3)
    assert [layer.count_params() for layer in model.layers] == [320, 0, 18496, 0, 0, 102464, 650]
    assert model.output_shape == (None, 10)
    assert model.layers[2].output_shape == (11, 11, 64) and model.layers[3].output_shape == (
        5,
        5,
        64,
    )


def test_confusion_matrix_counts_true_by_predicted():
    counts = V.confusion_matrix(np.array([0, 1, 1, 2]), np.array([0, 2, 1, 2]), 3)
    np.testing.assert_array_equal(counts, [[1, 0, 0], [0, 1, 1], [0, 0, 1]])


def test_unknown_dataset_is_named():
    with pytest.raises(ValueError, match="dataset must be one of 'digits', 'mnist'"):
        V.load_images("cifar")


def test_gabor_match_is_one_for_a_gabor_and_sign_invariant():
    bank, _ = gabor_bank(7)
    kernels = np.stack([bank[5] * 3 + 0.2, -bank[40]])
    np.testing.assert_allclose(gabor_match(kernels, bank), 1.0, rtol=1e-9)
    g = gabor(9, theta=0.0, wavelength=4.0, phase=0.0, sigma=2.0)
    assert g.shape == (9, 9) and g[4, 4] == pytest.approx(1.0)
    np.testing.assert_allclose(g, g[::-1], atol=1e-12)  # theta = 0: stripes along y
