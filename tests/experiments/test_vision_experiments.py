"""The article's two Keras programs run on engram with only their imports changed, and the
vision experiments' helpers do what they say."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

from engram.experiments import _vision as V
from engram.experiments.visual_filters import gabor, gabor_bank, gabor_match

KERAS_IMPORTS = """
from tensorflow.keras.models import Sequential
from tensorflow.keras.layers import Conv2D, Dense, Flatten, MaxPooling2D
"""
# The port: only the package name in the import block changes.
ENGRAM_IMPORTS = KERAS_IMPORTS.replace("tensorflow.keras", "engram.nn")

# The article's programs, as written for Keras, after loading (x_train, y_train), (x_test, y_test)
# with x in [0, 1] of shape (n, 28, 28): the network, then its training.
ARTICLE_MLP = """
model = Sequential([
    Flatten(input_shape=(28, 28)),
    Dense(10, activation='relu'),
    Dense(10, activation='relu'),
    Dense(10, activation='softmax')
])
model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])
"""
ARTICLE_CNN = """
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
"""
ARTICLE_TRAINING = {
    "mlp": """
model.fit(x_train, y_train, epochs=5)
test_loss, test_acc = model.evaluate(x_test, y_test)
""",
    "cnn": """
x_train = x_train.reshape(-1, 28, 28, 1)
x_test = x_test.reshape(-1, 28, 28, 1)
model.fit(x_train, y_train, epochs=5)
test_loss, test_acc = model.evaluate(x_test, y_test)
""",
}
PROGRAMS = {"mlp": ARTICLE_MLP, "cnn": ARTICLE_CNN}


@pytest.fixture(scope="module")
def small_digits():
    (x_train, y_train), (x_test, y_test) = V.load_images("digits")
    return (x_train[:64], y_train[:64]), (x_test[:32], y_test[:32])


@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_article_program_runs_with_only_the_import_changed(program, small_digits, capsys):
    (x_train, y_train), (x_test, y_test) = small_digits
    namespace = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    exec(ENGRAM_IMPORTS + PROGRAMS[program] + ARTICLE_TRAINING[program], namespace)  # noqa: S102
    model = namespace["model"]
    assert type(model).__module__.startswith("engram.nn")
    assert model.output_shape == (None, 10)
    assert 0.0 <= namespace["test_acc"] <= 1.0 and np.isfinite(namespace["test_loss"])
    assert len(model.history.history["loss"]) == 5
    capsys.readouterr()  # the progress bars


@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_article_network_has_keras_layers_and_weight_counts(program):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("keras")
    ours, theirs = {}, {}
    exec(ENGRAM_IMPORTS + PROGRAMS[program], ours)  # noqa: S102 - our own fixed program text
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras 3 prefers Input() to input_shape=
        exec(KERAS_IMPORTS.replace("tensorflow.keras", "keras") + PROGRAMS[program], theirs)  # noqa: S102
    engram_model, keras_model = ours["model"], theirs["model"]
    assert [layer.count_params() for layer in engram_model.layers] == [
        layer.count_params() for layer in keras_model.layers
    ]
    assert engram_model.count_params() == keras_model.count_params()
    assert engram_model.output_shape == tuple(keras_model.output_shape)


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


def test_shifted_images_move_every_pixel_and_shift_in_zeros():
    x = np.zeros((1, 28, 28), dtype=np.float32)
    x[0, 10, 10] = 1.0
    x[0, 27, 0] = 1.0  # leaves the image when moved down or left
    down, up, right, left = V.shifted_images(x, 2)
    assert down[0, 12, 10] == 1 and down.sum() == 1  # the bottom-row pixel does not wrap
    assert up[0, 8, 10] == 1 and up[0, 25, 0] == 1 and up.sum() == 2
    assert right[0, 10, 12] == 1 and right[0, 27, 2] == 1 and right.sum() == 2
    assert left[0, 10, 8] == 1 and left.sum() == 1


def test_report_sentences_follow_the_numbers():
    names = [str(d) for d in range(10)]
    y = np.array([1, 1, 2, 2, 2, 3])
    assert V.confusion_sentence(y, np.array([1, 7, 2, 7, 7, 3]), names) == (
        "Its most frequent mistake is 2 taken for 7 (2 test images)."
    )
    assert V.confusion_sentence(y, y, names) == "It makes no mistake on the test set."
    run_ = {"test_accuracy": 0.9, "shifted_accuracy": 0.6, "n_test": 540}
    assert "lowers its accuracy from 90.0% to 60.0%" in V.shift_sentence(run_)
    assert "no drop beyond sampling noise" in V.shift_sentence({**run_, "shifted_accuracy": 0.89})
    assert "above the 10% of guessing" in V.accuracy_verdict(run_)
    assert "no better than" in V.accuracy_verdict({**run_, "test_accuracy": 0.11})
    mlp, cnn = V.build_mlp((10, 10), 0, 1e-3), V.build_cnn(0, 1e-3)
    assert "7,850, 110 and 110 weights; its largest layer is smaller" in V.weights_sentence(
        mlp, cnn, "the CNN"
    )
    assert "102,464 and 650 weights; its largest layer is not smaller" in V.weights_sentence(
        cnn, mlp, "the MLP"
    )
