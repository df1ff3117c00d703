"""Context streams: one labelled dataset cut into a sequence of contexts.

* split: the classes in consecutive pairs, (0, 1), (2, 3), ... : 5 contexts of 2 classes.
* permuted: every context holds all classes, its images' pixels shuffled by one fixed
  permutation; the first context is the unpermuted data (as in van de Ven & Tolias's code).

Images are flattened to (n, features) float32 in [0, 1]; labels are the dataset's class ids.

Reference:
    Goodfellow et al. (2013), "An empirical investigation of catastrophic forgetting"
    (permuted MNIST); Zenke, Poole & Ganguli (2017) (split MNIST); van de Ven & Tolias (2019),
    "Three scenarios for continual learning", arXiv:1904.07734.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engram.validation import Seed, as_rng, check_choice, check_fraction, check_positive

BENCHMARKS = ("split", "permuted")
DATASETS = ("digits", "mnist", "mnist-t10k", "fashion-mnist")


@dataclass(frozen=True)
class Context:
    """One context: its training and test images (n, features), labels and classes."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple[int, ...]

    def rank(self, labels: np.ndarray) -> np.ndarray:
        """Each label's position among this context's classes (0 .. len(classes) - 1)."""
        lookup = np.full(max(self.classes) + 1, -1, np.int64)
        lookup[list(self.classes)] = np.arange(len(self.classes))
        return lookup[labels]


@dataclass(frozen=True)
class Stream:
    """The contexts in the order they are learned, and how they were made."""

    contexts: tuple[Context, ...]
    benchmark: str
    dataset: str

    def __len__(self) -> int:
        return len(self.contexts)

    @property
    def classes_per_context(self) -> int:
        return len(self.contexts[0].classes)

    @property
    def n_features(self) -> int:
        return self.contexts[0].x_train.shape[1]


def _flat(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(x, np.float32).reshape(len(x), -1))


def split_stream(train, test, classes_per_context: int = 2, dataset: str = "") -> Stream:
    """Contexts of consecutive classes: (0, 1), (2, 3), ... for ``classes_per_context=2``."""
    check_positive(classes_per_context, "classes_per_context", integer=True)
    (x_tr, y_tr), (x_te, y_te) = train, test
    x_tr, x_te = _flat(x_tr), _flat(x_te)
    y_tr, y_te = np.asarray(y_tr, np.int64), np.asarray(y_te, np.int64)
    labels = np.unique(y_tr)
    if len(labels) % classes_per_context:
        raise ValueError(
            f"classes_per_context must divide the number of classes ({len(labels)}). "
            f"Got {classes_per_context} instead."
        )
    contexts = []
    for k in range(0, len(labels), classes_per_context):
        cls = tuple(int(c) for c in labels[k : k + classes_per_context])
        tr, te = np.isin(y_tr, cls), np.isin(y_te, cls)
        name = "classes " + "/".join(str(c) for c in cls)
        contexts.append(Context(name, x_tr[tr], y_tr[tr], x_te[te], y_te[te], cls))
    return Stream(tuple(contexts), "split", dataset)


def permuted_stream(train, test, n_contexts: int = 10, seed: Seed = 0, dataset: str = "") -> Stream:
    """``n_contexts`` copies of the data, each with its own fixed pixel permutation (the first
    is the identity)."""
    check_positive(n_contexts, "n_contexts", integer=True)
    rng = as_rng(seed)
    (x_tr, y_tr), (x_te, y_te) = train, test
    x_tr, x_te = _flat(x_tr), _flat(x_te)
    y_tr, y_te = np.asarray(y_tr, np.int64), np.asarray(y_te, np.int64)
    cls = tuple(int(c) for c in np.unique(y_tr))
    contexts = []
    for k in range(n_contexts):
        perm = np.arange(x_tr.shape[1]) if k == 0 else rng.permutation(x_tr.shape[1])
        contexts.append(
            Context(f"permutation {k + 1}", x_tr[:, perm], y_tr, x_te[:, perm], y_te, cls)
        )
    return Stream(tuple(contexts), "permuted", dataset)


def load_images(dataset: str, data_dir: str = "", seed: Seed = 0):
    """``(x_train, y_train), (x_test, y_test)`` of a named 28x28 dataset, x in [0, 1].

    ``digits`` is embedded (scikit-learn's 8x8 digits upsampled, 70/30 split); ``mnist`` needs
    the full MNIST files, ``mnist-t10k`` only the 10,000 test digits (split 8,000 / 2,000),
    ``fashion-mnist`` Zalando's files (``apt-get install dataset-fashion-mnist``).
    """
    from engram import data

    check_choice(dataset, "dataset", DATASETS)
    folder = data_dir or None
    if dataset == "digits":
        pairs = data.load_digits_28(seed=0 if seed is None else seed)
    elif dataset == "mnist":
        pairs = data.load_mnist(folder)
    elif dataset == "mnist-t10k":
        pairs = data.load_mnist_t10k(folder, seed=0)
    else:
        pairs = data.load_fashion_mnist(folder)
    out = []
    for x, y in pairs:
        x = np.asarray(x, np.float32)
        out.append((x / np.float32(255.0) if x.max() > 1.0 else x, np.asarray(y, np.int64)))
    return tuple(out)


def load_stream(
    dataset: str,
    benchmark: str = "split",
    seed: Seed = 0,
    data_dir: str = "",
    n_contexts: int = 10,
    train_limit: int = 0,
) -> Stream:
    """The ``benchmark`` stream ("split" or "permuted") over a named dataset.

    Args:
        train_limit: keep the first ``train_limit`` training images (0: all), before splitting.
        n_contexts: the number of permutations (permuted only; split has one per class pair).
    """
    check_choice(benchmark, "benchmark", BENCHMARKS)
    train, test = load_images(dataset, data_dir, seed)
    if train_limit:
        train = (train[0][:train_limit], train[1][:train_limit])
    if benchmark == "split":
        return split_stream(train, test, 2, dataset)
    return permuted_stream(train, test, n_contexts, seed, dataset)


def hold_out(stream: Stream, fraction: float = 0.2, seed: Seed = 0) -> Stream:
    """The stream with each context's test set replaced by a share of its training set.

    For choosing settings (e.g. a regularisation strength) without looking at the test sets:
    ``fraction`` of each context's training images, drawn at random, become its "test" images
    and are removed from its training images.
    """
    check_fraction(fraction, "fraction")
    rng = as_rng(seed)
    contexts = []
    for ctx in stream.contexts:
        order = rng.permutation(len(ctx.x_train))
        n_val = max(1, int(round(fraction * len(order))))
        val, train = order[:n_val], order[n_val:]
        contexts.append(
            Context(
                ctx.name,
                ctx.x_train[train],
                ctx.y_train[train],
                ctx.x_train[val],
                ctx.y_train[val],
                ctx.classes,
            )
        )
    return Stream(tuple(contexts), stream.benchmark, stream.dataset)
