"""engram.nn.datasets: Keras's load_data() from engram's verified loaders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engram.data.mnist import DatasetNotFoundError
from engram.nn import datasets
from tests.nn.keras_reference import import_keras

FASHION = Path("/usr/share/datasets/fashion-mnist")
SHARED_MNIST = Path("/work/shared/datasets/mnist")


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No download, no user cache, no ENGRAM_DATA_DIR."""
    monkeypatch.setenv("ENGRAM_OFFLINE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("ENGRAM_DATA_DIR", raising=False)


def test_fashion_mnist_is_what_keras_reads_from_the_same_files(offline, monkeypatch):
    if not (FASHION / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"Fashion-MNIST is not at {FASHION} (apt-get install dataset-fashion-mnist)")
    keras = import_keras()
    import keras.src.datasets.fashion_mnist as kfashion

    # Keras's own parser on the same four files (its download step pointed at them)
    monkeypatch.setattr(kfashion, "get_file", lambda fname, origin, cache_subdir: FASHION / fname)
    expected = keras.datasets.fashion_mnist.load_data()
    got = datasets.fashion_mnist.load_data()
    shapes = [(60000, 28, 28), (60000,), (10000, 28, 28), (10000,)]
    for ours, theirs, shape in zip(
        [*got[0], *got[1]], [*expected[0], *expected[1]], shapes, strict=True
    ):
        assert ours.shape == shape and ours.dtype == theirs.dtype == np.uint8
        np.testing.assert_array_equal(ours, theirs)


def test_mnist_load_data_when_the_training_split_is_present(offline):
    try:
        (x_train, y_train), (x_test, y_test) = datasets.mnist.load_data()
    except DatasetNotFoundError:
        pytest.skip("MNIST's training split is not on this machine")
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    assert set(np.unique(y_train)) == set(range(10))


def test_mnist_absent_says_how_to_get_the_files(offline, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetNotFoundError, match="To fix: .*place the IDX files"):
        datasets.mnist.load_data(data_dir=empty)


def test_mnist_with_only_the_test_split_points_to_it(offline):
    if not (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"the MNIST test split is not at {SHARED_MNIST}")
    if (SHARED_MNIST / "train-images-idx3-ubyte.gz").exists():
        pytest.skip("the training split is there too")
    with pytest.raises(DatasetNotFoundError, match="The test split alone is in"):
        datasets.mnist.load_data(data_dir=SHARED_MNIST)


def test_keras_cache_path_is_refused_with_the_fix():
    with pytest.raises(ValueError, match=r"path='/tmp/m.npz'.*data_dir=\.\.\."):
        datasets.mnist.load_data("/tmp/m.npz")
