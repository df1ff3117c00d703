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


# --- boston_housing, california_housing: Keras's .npz of float arrays -------------------------


def _housing_file(tmp_path, monkeypatch, source_name, n, features, seed=0):
    """A file like Keras's (x, y float64) in tmp_path, and engram told its SHA-256."""
    import dataclasses
    import hashlib

    from engram.data import housing

    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, features)), rng.uniform(5, 50, n)
    source = getattr(housing, source_name)
    path = tmp_path / source.filename
    np.savez(path, x=x, y=y)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setattr(housing, source_name, dataclasses.replace(source, sha256=digest))
    return path


@pytest.mark.parametrize(
    ("module", "source", "n", "features", "kwargs"),
    [
        ("boston_housing", "BOSTON", 506, 13, {}),
        ("boston_housing", "BOSTON", 506, 13, {"test_split": 0.35, "seed": 7}),
        ("california_housing", "CALIFORNIA", 2000, 8, {}),
        ("california_housing", "CALIFORNIA", 2000, 8, {"version": "small", "test_split": 0.1}),
    ],
)
def test_housing_sets_equal_what_keras_reads_from_the_same_file(
    offline, tmp_path, monkeypatch, module, source, n, features, kwargs
):
    keras = import_keras()
    import importlib

    path = _housing_file(tmp_path, monkeypatch, source, n, features)
    kmodule = importlib.import_module(f"keras.src.datasets.{module}")
    monkeypatch.setattr(kmodule, "get_file", lambda *args, **kw: str(path))  # Keras's parser
    theirs = getattr(keras.datasets, module).load_data(**kwargs)
    ours = getattr(datasets, module).load_data(**kwargs, data_dir=tmp_path)
    for a, b in zip([*ours[0], *ours[1]], [*theirs[0], *theirs[1]], strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    rows = 600 if kwargs.get("version") == "small" else n
    assert len(ours[0][0]) == int(rows * (1 - kwargs.get("test_split", 0.2)))


def test_housing_files_are_checked_and_absent_ones_say_how_to_get_them(
    offline, tmp_path, monkeypatch
):
    from engram.data.mnist import ChecksumError

    with pytest.raises(DatasetNotFoundError) as error:
        datasets.boston_housing.load_data(data_dir=tmp_path)
    message = str(error.value)
    assert "tf-keras-datasets/boston_housing.npz (sha256 f553886a" in message
    assert "engram does not download it" in message and str(tmp_path) in message
    (tmp_path / "california_housing.npz").write_bytes(b"not the file")
    with pytest.raises(ChecksumError, match="not 1a2e3a52.*Download it again"):
        datasets.california_housing.load_data(data_dir=tmp_path)
    with pytest.raises(ValueError, match="version must be one of 'small', 'large'"):
        datasets.california_housing.load_data(version="medium", data_dir=tmp_path)
    with pytest.raises(ValueError, match="Invalid `test_split` argument: 1"):
        datasets.boston_housing.load_data(test_split=1, data_dir=tmp_path)
    # a file of object arrays (a pickle inside) is not read, even with the right SHA-256
    import dataclasses
    import hashlib

    from engram.data import housing

    path = tmp_path / "boston_housing.npz"
    np.savez(path, x=np.array([[1.0]], dtype=object), y=np.array([1.0]))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setattr(housing, "BOSTON", dataclasses.replace(housing.BOSTON, sha256=digest))
    with pytest.raises(ValueError, match="allow_pickle=False"):
        datasets.boston_housing.load_data(data_dir=tmp_path)


# --- cifar100: the binary version -------------------------------------------------------------


def _cifar100_files(folder, counts, seed=0):
    """Binary files of random records; returns each file's records."""
    from engram.data import cifar100

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = {}
    for name, n in counts.items():
        records = rng.integers(0, 256, (n, cifar100.RECORD_BYTES), dtype=np.uint8)
        records[:, 0] = rng.integers(0, 20, n)
        records[:, 1] = rng.integers(0, 100, n)
        (folder / name).write_bytes(records.tobytes())
        out[name] = records
    return out


@pytest.mark.parametrize("label_mode", ["fine", "coarse"])
def test_cifar100_equals_what_keras_makes_of_the_same_records(
    offline, tmp_path, monkeypatch, label_mode
):
    """Keras reads the pickled version: its rows (n, 3072) of red, green and blue planes and
    its label lists are handed to Keras's loader here (no pickle involved), and its arrays
    equal engram's from the binary records (a test-sized file: 50 and 10 records)."""
    keras = import_keras()
    import keras.src.datasets.cifar100 as kcifar100

    from engram.data import cifar100

    monkeypatch.setattr(cifar100, "FILES", {"train.bin": 50, "test.bin": 10})
    records = _cifar100_files(tmp_path / "cifar-100" / cifar100.FOLDER, cifar100.FILES)
    column = cifar100.LABELS[label_mode][0]

    def load_batch(fpath, label_key):
        rows = records["train.bin" if fpath.endswith("train") else "test.bin"]
        assert label_key == f"{label_mode}_labels"
        return rows[:, 2:].reshape(-1, 3, 32, 32), [int(v) for v in rows[:, column]]

    monkeypatch.setattr(kcifar100, "get_file", lambda *args, **kw: str(tmp_path))
    monkeypatch.setattr(kcifar100, "load_batch", load_batch)
    theirs = keras.datasets.cifar100.load_data(label_mode=label_mode)
    ours = datasets.cifar100.load_data(label_mode=label_mode, data_dir=tmp_path)
    for a, b in zip([*ours[0], *ours[1]], [*theirs[0], *theirs[1]], strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    assert ours[0][0].shape == (50, 32, 32, 3) and ours[1][1].shape == (10, 1)


def test_cifar100_archive_bad_files_and_the_pickled_version_are_refused(
    offline, tmp_path, monkeypatch
):
    import hashlib
    import io
    import tarfile

    from engram.data import cifar100
    from engram.data.mnist import ChecksumError

    monkeypatch.setattr(cifar100, "FILES", {"train.bin": 5, "test.bin": 3})
    records = _cifar100_files(tmp_path / "src", cifar100.FILES)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, rows in records.items():
            info = tarfile.TarInfo(f"{cifar100.FOLDER}/{name}")
            info.size = rows.nbytes
            archive.addfile(info, io.BytesIO(rows.tobytes()))
    home = tmp_path / "home"
    home.mkdir()
    (home / cifar100.ARCHIVE).write_bytes(buffer.getvalue())
    with pytest.raises(ChecksumError, match="not the published 03b5dce0"):
        datasets.cifar100.load_data(data_dir=home)
    digest = hashlib.md5(buffer.getvalue(), usedforsecurity=False).hexdigest()
    monkeypatch.setattr(cifar100, "ARCHIVE_MD5", digest)  # this test's archive, not CIFAR's
    (_, y_train), (x_test, _) = datasets.cifar100.load_data("coarse", data_dir=home)
    np.testing.assert_array_equal(y_train[:, 0], records["train.bin"][:, 0])
    np.testing.assert_array_equal(x_test[1, 3, 4, 2], records["test.bin"][1, 2 + 2048 + 3 * 32 + 4])
    assert sorted(p.name for p in home.iterdir()) == [cifar100.ARCHIVE]  # nothing extracted
    bad = records["test.bin"].copy()
    bad[0, 1] = 100
    (tmp_path / "src" / "test.bin").write_bytes(bad.tobytes())
    with pytest.raises(ValueError, match="fine label 100; CIFAR-100's fine labels are 0..99"):
        datasets.cifar100.load_data(data_dir=tmp_path / "src")
    with pytest.raises(ValueError, match="label_mode must be one of 'coarse', 'fine'"):
        datasets.cifar100.load_data("superclass", data_dir=tmp_path / "src")
    pickled = tmp_path / "pickled"
    (pickled / "cifar-100-python").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError, match="Python version, whose files are pickles"):
        datasets.cifar100.load_data(data_dir=pickled)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(DatasetNotFoundError) as error:
        datasets.cifar100.load_data()
    assert "download the binary version (cifar-100-binary.tar.gz, 161 MB, md5" in str(error.value)
    assert str(tmp_path / "cache" / "engram" / "cifar-100") in str(error.value)


# --- imdb, reuters: refused by rule -----------------------------------------------------------


@pytest.mark.parametrize("name", ["imdb", "reuters"])
def test_pickled_keras_datasets_are_refused_saying_why_and_what_instead(name):
    with pytest.raises(NotImplementedError) as error:
        getattr(datasets, name).load_data(num_words=10000)
    message = str(error.value)
    assert f"{name}.npz stores the word-index sequences as NumPy object arrays" in message
    assert "engram never unpickles" in message
    assert "np.load(path, allow_pickle=False)" in message and "pad_sequences" in message


def test_every_keras_dataset_is_provided_or_refused():
    keras = import_keras()
    names = {n for n in dir(keras.datasets) if not n.startswith("_")}
    assert names == set(datasets.__all__)
    for name in names:
        assert callable(getattr(datasets, name).load_data)
