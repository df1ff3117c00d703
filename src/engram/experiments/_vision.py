"""Shared parts of the vision experiments: data, the article's networks, training, figures.

``mnist-mlp``, ``mnist-cnn`` and ``visual-filters`` all load a 28x28 image dataset by name, build
one of the article's Keras networks, train it with a held-out validation part and report test
accuracy, a confusion matrix and misclassified examples. (A module whose name starts with ``_``
is not loaded as an experiment.)

Datasets (the ``dataset`` setting):

* ``digits``: scikit-learn's 8x8 digits upsampled to 28x28, 70/30 split (embedded, no files);
* ``mnist``: the full MNIST (60,000 / 10,000) from ``data_dir``, ``$ENGRAM_DATA_DIR`` or the cache;
* ``mnist-t10k``: only the 10,000 MNIST test digits, split 8,000 / 2,000 (stratified, fixed seed);
* ``fashion-mnist``: Zalando's Fashion-MNIST (60,000 / 10,000); Debian installs it with
  ``apt-get install dataset-fashion-mnist``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engram.experiments._verdict import above_chance, chance_band, count, verdict
from engram.experiments.base import Figure, Table, epoch_progress
from engram.nn import Sequential
from engram.nn.layers import Conv2D, Dense, Flatten, MaxPooling2D
from engram.validation import check_choice

DATASETS = ("digits", "mnist", "mnist-t10k", "fashion-mnist")
# the article's training settings, shared by mnist-mlp, mnist-cnn and visual-filters
TRAINING_DEFAULTS = {
    "seed": 0,
    "dataset": "mnist",
    "data_dir": "",
    "epochs": 5,
    "batch_size": 32,
    "learning_rate": 0.001,
    "validation_fraction": 0.1,
    "train_limit": 0,
}
TRAINING_LIMITS = {
    "dataset": DATASETS,
    "batch_size": "[1, 1000000]",
    "learning_rate": "(0, inf)",
    "validation_fraction": "[0, 0.9]",
    "train_limit": "[0, inf)",
}


def split_problem(config: dict[str, Any]) -> str | None:
    """A train_limit too small for the validation split (as `fit` splits: floor of the rest)."""
    n, fraction = config["train_limit"], config["validation_fraction"]
    kept = math.floor(n * (1.0 - fraction))
    if n and fraction and not 0 < kept < n:
        return (
            f"Settings train_limit={n} and validation_fraction={fraction:g} leave {kept} training "
            f"and {n - kept} validation images. Use a larger train_limit (or 0 for all)."
        )
    return None


IMAGES_BYTES = 4 * 70_000 * 28 * 28  # the largest dataset (70,000 images) as float32
DIGIT_NAMES = [str(d) for d in range(10)]
FASHION_NAMES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
Pair = tuple[np.ndarray, np.ndarray]


def class_names(dataset: str) -> list[str]:
    return FASHION_NAMES if dataset == "fashion-mnist" else DIGIT_NAMES


def load_images(dataset: str, data_dir: str = "", seed: int = 0) -> tuple[Pair, Pair]:
    """``(x_train, y_train), (x_test, y_test)``: x float32 (n, 28, 28) in [0, 1], y int64.

    Raises:
        ValueError: an unknown dataset name.
        DatasetNotFoundError: the files are missing (the message says how to get them).
    """
    from engram import data

    check_choice(dataset, "dataset", DATASETS)
    folder = data_dir or None
    if dataset == "digits":
        (x_train, y_train), (x_test, y_test) = data.load_digits_28(seed=seed)
    elif dataset == "mnist":
        (x_train, y_train), (x_test, y_test) = data.load_mnist(folder)
    elif dataset == "mnist-t10k":
        (x_train, y_train), (x_test, y_test) = data.load_mnist_t10k(folder, seed=seed)
    else:
        (x_train, y_train), (x_test, y_test) = data.load_fashion_mnist(folder)

    def scale(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        return x / np.float32(255.0) if x.max() > 1.0 else x

    return (
        (scale(x_train), y_train.astype(np.int64)),
        (scale(x_test), y_test.astype(np.int64)),
    )


def limit(pair: Pair, n: int) -> Pair:
    """The first ``n`` samples (all when ``n`` is 0)."""
    return pair if n <= 0 else (pair[0][:n], pair[1][:n])


# --------------------------------------------------------------------------- the networks


def build_mlp(hidden_units: tuple[int, ...], seed: int, learning_rate: float) -> Sequential:
    """The article's MLP: Flatten(28, 28) - Dense(h, relu) ... - Dense(10, softmax), Adam."""
    from engram.nn.optimizers import Adam

    layers = [Flatten(input_shape=(28, 28))]
    layers += [Dense(units, activation="relu") for units in hidden_units]
    layers.append(Dense(10, activation="softmax"))
    model = Sequential(layers, seed=seed)
    model.compile(
        optimizer=Adam(learning_rate), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    return model


def build_cnn(seed: int, learning_rate: float, kernel_size: int = 3) -> Sequential:
    """The article's CNN: Conv32-Pool-Conv64-Pool-Flatten-Dense64-Dense10, Adam."""
    from engram.nn.optimizers import Adam

    k = (kernel_size, kernel_size)
    model = Sequential(
        [
            Conv2D(32, k, activation="relu", input_shape=(28, 28, 1)),
            MaxPooling2D((2, 2)),
            Conv2D(64, (3, 3), activation="relu"),
            MaxPooling2D((2, 2)),
            Flatten(),
            Dense(64, activation="relu"),
            Dense(10, activation="softmax"),
        ],
        seed=seed,
    )
    model.compile(
        optimizer=Adam(learning_rate), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    return model


# --------------------------------------------------------------------------- training


def train(model: Sequential, train_pair: Pair, test_pair: Pair, config: dict[str, Any], label: str):
    """Fit with a held-out validation part, then evaluate on the test part.

    Returns a dict: history (Keras keys), test_loss, test_accuracy, predictions (test labels),
    n_train (images fitted on) and n_images (training images before the validation split, test
    images).
    """
    x_train, y_train = train_pair
    x_test, y_test = test_pair
    if model.input_shape[1:] == (28, 28, 1):
        x_train, x_test = x_train[..., None], x_test[..., None]
    fraction = config["validation_fraction"]
    history = model.fit(
        x_train,
        y_train,
        epochs=config["epochs"],
        batch_size=config["batch_size"],
        validation_split=fraction if fraction > 0 else 0.0,
        verbose=0,
        callbacks=epoch_progress(label, config["verbose"]),
    )
    probabilities = model.predict(x_test, batch_size=256)
    test_loss, test_accuracy = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
    shifted = [
        float(np.mean(model.predict(x, batch_size=256).argmax(axis=1) == y_test))
        for x in shifted_images(x_test, SHIFT_PIXELS)
    ]
    return {
        "shifted_accuracy": float(np.mean(shifted)),
        "n_test": len(y_test),
        "history": history.history,
        "test_loss": float(test_loss),
        "test_accuracy": float(test_accuracy),
        "predictions": probabilities.argmax(axis=1),
        # model.fit's split: the first floor(n * (1 - fraction)) samples train
        "n_train": math.floor(len(x_train) * (1.0 - fraction)),
        "n_validation": len(x_train) - math.floor(len(x_train) * (1.0 - fraction)),
    }


def shifted_images(x: np.ndarray, pixels: int) -> list[np.ndarray]:
    """``x`` (n, 28, 28[, 1]) moved by ``pixels`` up, down, left and right, zeros shifted in."""
    moved = []
    for axis in (1, 2):
        for step in (pixels, -pixels):
            y = np.roll(x, step, axis=axis)
            edge = [slice(None)] * x.ndim
            edge[axis] = slice(0, step) if step > 0 else slice(step, None)
            y[tuple(edge)] = 0
            moved.append(y)
    return moved


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int = 10) -> np.ndarray:
    """counts[true, predicted]."""
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(counts, (y_true, y_pred), 1)
    return counts


# --------------------------------------------------------------------------- figures


def curve_figures(history: dict[str, list[float]]) -> list[Figure]:
    """Loss and accuracy per epoch, training and validation."""
    epochs = np.arange(1, len(history["loss"]) + 1)
    figures = []
    for key, ylabel in (("loss", "cross-entropy"), ("accuracy", "accuracy")):
        series = {"train": {"x": epochs, "y": np.array(history[key])}}
        if "val_" + key in history:
            series["validation"] = {"x": epochs, "y": np.array(history["val_" + key])}
        figures.append(
            Figure(
                f"{key}_curves",
                f"{key.capitalize()} per epoch",
                "lines",
                {"series": series, "xlabel": "epoch", "ylabel": ylabel},
                "Training values are averaged over each epoch's batches (the weights move "
                "during it); validation values use the weights at the end of the epoch.",
            )
        )
    return figures


def confusion_figure(counts: np.ndarray, names: list[str]) -> Figure:
    return Figure(
        "confusion_matrix",
        "Confusion matrix (test set)",
        "heatmap",
        {
            "matrix": counts,
            "xticklabels": names,
            "yticklabels": names,
            "xlabel": "predicted",
            "ylabel": "true",
            "annotate": True,
            "cmap": "Blues",
        },
        "Row i, column j: test images of class i predicted as j; the diagonal is correct.",
    )


def misclassified_figure(
    x_test: np.ndarray, y_test: np.ndarray, predictions: np.ndarray, names: list[str], n: int = 20
) -> Figure:
    wrong = np.flatnonzero(predictions != y_test)[:n]
    if len(wrong) == 0:
        images, labels = x_test[:1], ["no mistakes"]
    else:
        images = x_test[wrong]
        labels = [f"{names[y_test[i]]} -> {names[predictions[i]]}" for i in wrong]
    return Figure(
        "misclassified",
        "Misclassified test images (true -> predicted)",
        "images",
        {"images": images, "labels": labels, "ncols": 5, "cmap": "gray_r"},
        f"The first {len(wrong)} test images the network got wrong.",
    )


def report_parts(run_: dict[str, Any], test_pair: Pair, dataset: str) -> tuple[list, Table]:
    """The figures and the per-class table shared by the MLP and CNN experiments."""
    x_test, y_test = test_pair
    names = class_names(dataset)
    counts = confusion_matrix(y_test, run_["predictions"])
    figures = [
        *curve_figures(run_["history"]),
        confusion_figure(counts, names),
        misclassified_figure(x_test, y_test, run_["predictions"], names),
    ]
    per_class = counts.diagonal() / np.maximum(counts.sum(axis=1), 1)
    rows = [[names[i], int(counts[i].sum()), f"{per_class[i]:.3f}"] for i in range(10)]
    table = Table("Test accuracy per class", ["class", "test images", "accuracy"], rows)
    return figures, table


def common_metrics(run_: dict[str, Any]) -> dict[str, Any]:
    history = run_["history"]
    metrics = {
        "test_accuracy": run_["test_accuracy"],
        "test_accuracy_shifted": run_["shifted_accuracy"],
        "test_loss": run_["test_loss"],
        "train_accuracy_last_epoch": float(history["accuracy"][-1]),
    }
    if "val_accuracy" in history:
        metrics["val_accuracy_last_epoch"] = float(history["val_accuracy"][-1])
    return metrics


DATA_TEXT = {
    "digits": "scikit-learn's 8x8 digits upsampled to 28x28",
    "mnist": "MNIST",
    "mnist-t10k": "the real MNIST test digits (split stratified)",
    "fashion-mnist": "Fashion-MNIST",
}


def training_text(config: dict[str, Any], run_: dict[str, Any]) -> str:
    """How the network was trained and on what, from this run's settings and data."""
    epochs = config["epochs"]
    return (
        f"trained with Adam (learning rate {config['learning_rate']:g}, batch "
        f"{config['batch_size']}) for {count(epochs, 'epoch')} on "
        f"{DATA_TEXT[config['dataset']]} ({run_['n_train']:,} training, "
        f"{run_['n_validation']:,} validation and {run_['n_test']:,} test images)"
    )


# --------------------------------------------------------------------------- report sentences

SHIFT_PIXELS = 2  # how far the test images are moved to measure sensitivity to position
CHANCE = 0.1  # ten classes, balanced test sets


def accuracy_verdict(run_: dict[str, Any]) -> str:
    """Test accuracy against guessing, with two binomial standard errors as the margin."""
    n = run_["n_test"]
    return verdict(
        above_chance(run_["test_accuracy"], CHANCE, n),
        "above the {c:.0%} of guessing (± {b:.1%} over {n} test images)",
        "**no better than the {c:.0%} of guessing** (± {b:.1%} over {n} test images)",
        c=CHANCE,
        b=2 * chance_band(CHANCE, n),
        n=n,
    )


def shift_sentence(run_: dict[str, Any], pixels: int = SHIFT_PIXELS) -> str:
    """How much moving the test images by ``pixels`` costs, against sampling noise."""
    before, after = run_["test_accuracy"], run_["shifted_accuracy"]
    margin = 2 * chance_band(max(min(before, 1 - 1e-3), 1e-3), run_["n_test"])
    return verdict(
        before - after > margin,
        "Moving the test images by {p} pixels (up, down, left, right) lowers its accuracy from "
        "{a:.1%} to {b:.1%}.",
        "Moving the test images by {p} pixels (up, down, left, right) leaves its accuracy at "
        "{b:.1%} (unshifted {a:.1%}): no drop beyond sampling noise (± {m:.1%}).",
        p=pixels,
        a=before,
        b=after,
        m=margin,
    )


HEADLINE = {
    "test_accuracy": "test accuracy",
    "test_accuracy_shifted": f"test accuracy, images moved {SHIFT_PIXELS} pixels",
    "parameters": "weights",
}


def opening(run_: dict[str, Any], config: dict[str, Any], network: str) -> str:
    """Two sentences for a reader who reads nothing else: accuracy, then the cost of a shift."""
    data = DATA_TEXT[config["dataset"]]
    return (
        f"The {network} labelled {run_['test_accuracy']:.1%} of {run_['n_test']:,} test images "
        f"of {data} correctly, {accuracy_verdict(run_).replace('**', '')}. "
        f"{shift_sentence(run_)}"
    )


def confusion_sentence(y_true: np.ndarray, predictions: np.ndarray, names: list[str]) -> str:
    """The most frequent mistake on the test set, or that there is none."""
    counts = confusion_matrix(y_true, predictions)
    np.fill_diagonal(counts, 0)
    true, predicted = np.unravel_index(int(np.argmax(counts)), counts.shape)
    return verdict(
        counts.sum() > 0,
        "Its most frequent mistake is {t} taken for {p} ({k}).",
        "It makes no mistake on the test set.",
        t=names[true],
        p=names[predicted],
        k=count(int(counts[true, predicted]), "test image"),
    )


def layer_weights(model: Sequential) -> list[int]:
    """The weight count of every layer that has weights."""
    return [n for n in (layer.count_params() for layer in model.layers) if n]


def weights_sentence(model: Sequential, other: Sequential, other_name: str) -> str:
    """This network's weights per layer beside another's, with which has the largest layer."""
    mine, theirs = layer_weights(model), layer_weights(other)
    return verdict(
        max(mine) < max(theirs),
        "Its layers hold {a} weights; its largest layer is smaller than the largest of {o}, "
        "whose layers hold {b}.",
        "Its layers hold {a} weights; its largest layer is not smaller than the largest of {o}, "
        "whose layers hold {b}.",
        a=_listed(mine),
        b=_listed(theirs),
        o=other_name,
    )


def _listed(counts: list[int]) -> str:
    words = [f"{n:,}" for n in counts]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
