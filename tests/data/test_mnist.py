"""MNIST / Fashion-MNIST loading: search order, checksums, downloads, the real files."""

import dataclasses
import gzip
import hashlib
import urllib.error
from pathlib import Path

import numpy as np
import pytest

import engram.data as data
from engram.data import mnist
from engram.data.idx import read_idx, write_idx
from engram.data.mnist import (
    CHECKSUMS,
    ChecksumError,
    DatasetNotFoundError,
    FileChecksum,
    load_fashion_mnist,
    load_mnist,
    load_mnist_t10k,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_MNIST = REPO_ROOT / ".." / "shared" / "datasets" / "mnist"
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
REAL_FASHION_SOURCE = mnist.SOURCES["fashion-mnist"]  # before the fixture hides its folder
STEMS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No network, no real cache, no ENGRAM_* variables, no system folders for Fashion."""

    def no_network(url, timeout, max_bytes):
        pytest.fail(f"a test tried to download {url}")

    monkeypatch.setattr(mnist, "_fetch", no_network)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv("ENGRAM_DATA_DIR", raising=False)
    monkeypatch.delenv("ENGRAM_OFFLINE", raising=False)
    fashion = dataclasses.replace(
        mnist.SOURCES["fashion-mnist"], system_dirs=(str(tmp_path / "usr-share"),)
    )
    monkeypatch.setitem(mnist.SOURCES, "fashion-mnist", fashion)


def cache(name="mnist") -> Path:
    return mnist.cache_dir(name)


def write_split(directory, split, n, fill, gz=True):
    """Write a tiny fake split: images all equal to ``fill``, labels 0..n-1 mod 10."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    images, labels = STEMS[split]
    suffix = ".gz" if gz else ""
    x = np.full((n, 28, 28), fill, dtype=np.uint8)
    y = (np.arange(n) % 10).astype(np.uint8)
    write_idx(directory / f"{images}{suffix}", x)
    write_idx(directory / f"{labels}{suffix}", y)
    return x, y


def write_all(directory, fill, gz=True):
    write_split(directory, "train", 6, fill, gz)
    write_split(directory, "test", 4, fill, gz)
    return Path(directory)


def pin(monkeypatch, directory, dataset="mnist", file_sums=True, content_sums=False):
    """Pin the sums of the fake files in ``directory`` in place of the real ones."""
    for path in Path(directory).iterdir():
        stem = path.name.removesuffix(".gz")
        raw = path.read_bytes()
        content = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
        record = FileChecksum(
            read_idx(path).shape,
            frozenset([hashlib.sha256(raw).hexdigest()] if file_sums else []),
            hashlib.sha256(content).hexdigest() if content_sums else None,
        )
        monkeypatch.setitem(CHECKSUMS[dataset], stem, record)


def fill_of(result):
    (x_train, _), (x_test, _) = result
    assert x_train.shape == (6, 28, 28) and x_test.shape == (4, 28, 28)
    return int(x_train[0, 0, 0])


# --- where the files are looked for -----------------------------------------------------------


def test_search_order_data_dir_then_env_then_cache(monkeypatch, tmp_path):
    explicit = write_all(tmp_path / "explicit", fill=1)
    env = write_all(tmp_path / "env", fill=2)
    write_all(cache(), fill=3)
    monkeypatch.setenv("ENGRAM_DATA_DIR", str(env))
    assert fill_of(load_mnist(explicit, verify=False)) == 1
    assert fill_of(load_mnist(verify=False)) == 2
    monkeypatch.delenv("ENGRAM_DATA_DIR")
    assert fill_of(load_mnist(verify=False)) == 3


def test_named_subfolder_comes_before_the_folder_itself(monkeypatch, tmp_path):
    write_all(tmp_path / "root", fill=1)
    write_all(tmp_path / "root" / "mnist", fill=2)
    assert fill_of(load_mnist(tmp_path / "root", verify=False)) == 2
    monkeypatch.setenv("ENGRAM_DATA_DIR", str(tmp_path / "root"))
    assert fill_of(load_mnist(verify=False)) == 2


def test_cache_respects_xdg_and_falls_back_to_home(monkeypatch, tmp_path):
    assert cache() == tmp_path / "xdg-cache" / "engram" / "mnist"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache("fashion-mnist") == tmp_path / "home" / ".cache" / "engram" / "fashion-mnist"


def test_a_folder_missing_a_file_is_skipped_in_the_search_order(monkeypatch, tmp_path):
    write_split(tmp_path / "partial", "test", 4, fill=1)  # t10k only
    write_all(cache(), fill=2)
    monkeypatch.setenv("ENGRAM_DATA_DIR", str(tmp_path / "partial"))
    assert fill_of(load_mnist(verify=False)) == 2
    x, y = load_mnist(tmp_path / "partial", split="test", verify=False)  # enough for "test"
    assert x.shape == (4, 28, 28) and int(x[0, 0, 0]) == 1 and y.tolist() == [0, 1, 2, 3]


def test_an_explicit_folder_missing_a_file_is_refused_not_replaced(monkeypatch, tmp_path):
    write_split(tmp_path / "partial", "test", 4, fill=1)  # t10k only
    write_all(tmp_path / "env", fill=2)
    write_all(cache(), fill=3)
    monkeypatch.setenv("ENGRAM_DATA_DIR", str(tmp_path / "env"))
    with pytest.raises(DatasetNotFoundError, match="missing: train-images") as info:
        load_mnist(tmp_path / "partial", verify=False)
    assert "Only the folder given as data_dir" in str(info.value)
    assert str(tmp_path / "env") not in str(info.value).split("To fix")[0]


def test_uncompressed_files_are_found_and_gz_is_preferred(tmp_path):
    write_all(tmp_path / "d", fill=4, gz=False)
    assert fill_of(load_mnist(tmp_path / "d", verify=False)) == 4
    write_all(tmp_path / "d", fill=5, gz=True)
    assert fill_of(load_mnist(tmp_path / "d", verify=False)) == 5


def test_fashion_searches_the_system_folder_last(monkeypatch, tmp_path):
    write_all(tmp_path / "usr-share", fill=6)
    assert fill_of(load_fashion_mnist(verify=False)) == 6
    write_all(mnist.cache_dir("fashion-mnist"), fill=7)
    assert fill_of(load_fashion_mnist(verify=False)) == 7


def test_returned_types_match_keras(tmp_path):
    write_all(tmp_path, fill=9)
    (x_train, y_train), (x_test, y_test) = load_mnist(tmp_path, verify=False)
    for array in (x_train, y_train, x_test, y_test):
        assert array.dtype == np.uint8
    assert y_train.shape == (6,) and y_test.tolist() == [0, 1, 2, 3]


# --- checksums ----------------------------------------------------------------------------------


def test_pinned_fakes_verify(monkeypatch, tmp_path):
    write_all(tmp_path, fill=8)
    pin(monkeypatch, tmp_path)
    assert fill_of(load_mnist(tmp_path)) == 8


def test_content_sum_accepts_recompressed_and_uncompressed_copies(monkeypatch, tmp_path):
    write_all(tmp_path / "raw", fill=3, gz=False)
    pin(monkeypatch, tmp_path / "raw", file_sums=False, content_sums=True)
    assert fill_of(load_mnist(tmp_path / "raw")) == 3
    recompressed = tmp_path / "gz"
    recompressed.mkdir()
    for path in (tmp_path / "raw").iterdir():
        (recompressed / f"{path.name}.gz").write_bytes(gzip.compress(path.read_bytes(), 1))
    assert fill_of(load_mnist(recompressed)) == 3


def test_checksum_mismatch_raises_and_nothing_is_parsed(monkeypatch, tmp_path):
    write_all(tmp_path, fill=1)
    pin(monkeypatch, tmp_path)
    bad = tmp_path / "t10k-labels-idx1-ubyte.gz"  # checked last: no earlier file parsed either
    write_idx(bad, np.array([9, 9, 9, 9], dtype=np.uint8))

    def must_not_parse(*args, **kwargs):
        pytest.fail("a file was parsed although a checksum did not match")

    monkeypatch.setattr(mnist, "read_idx", must_not_parse)
    with pytest.raises(ChecksumError, match="checksum mismatch, the file was not parsed") as info:
        load_mnist(tmp_path)
    message = str(info.value)
    assert str(bad) in message and hashlib.sha256(bad.read_bytes()).hexdigest() in message
    assert "verify=False" in message
    with pytest.raises(ChecksumError):
        load_mnist(tmp_path, split="test")


def test_real_sums_reject_fake_files(monkeypatch, tmp_path):
    write_all(tmp_path, fill=1)
    with pytest.raises(ChecksumError, match="440fcabf73cc546fa21475e81ea37026"):
        load_mnist(tmp_path)


def test_oversized_file_is_not_even_hashed(monkeypatch, tmp_path):
    write_all(tmp_path, fill=1)
    pin(monkeypatch, tmp_path)
    big = tmp_path / "train-labels-idx1-ubyte.gz"
    big.write_bytes(b"\x00" * (2**20 + 100))
    with pytest.raises(ChecksumError, match=r"SHA-256 \(not computed\)"):
        load_mnist(tmp_path)


def test_unchecked_files_still_go_through_the_strict_reader(tmp_path):
    write_all(tmp_path, fill=1)
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x03"))
    with pytest.raises(data.IDXError, match="t10k-images-idx3-ubyte.gz: header is truncated"):
        load_mnist(tmp_path, verify=False)


@pytest.mark.parametrize(
    "images, labels, match",
    [
        (np.zeros((4, 28, 27), np.uint8), np.zeros(4, np.uint8), r"shape \(n, 28, 28\)"),
        (np.zeros((4, 28, 28), np.float32), np.zeros(4, np.uint8), "uint8 images"),
        (np.zeros((4, 28, 28), np.uint8), np.zeros(3, np.uint8), "4 images but 3 labels"),
        (np.zeros((4, 28, 28), np.uint8), np.full(4, 10, np.uint8), "labels must be 0..9"),
        (np.zeros((4, 28, 28), np.uint8), np.zeros((4, 1), np.uint8), r"labels of shape \(n,\)"),
    ],
)
def test_files_that_are_not_an_mnist_split_are_refused(tmp_path, images, labels, match):
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels)
    with pytest.raises(ValueError, match=match):
        load_mnist(tmp_path, split="test", verify=False)


# --- downloads and the not-found message ----------------------------------------------------------


def test_download_failure_says_where_it_looked_and_how_to_fix(monkeypatch, tmp_path):
    calls = []

    def offline(url, timeout, max_bytes):
        calls.append((url, timeout))
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(mnist, "_fetch", offline)
    monkeypatch.setenv("ENGRAM_DATA_DIR", str(tmp_path / "env"))
    with pytest.raises(DatasetNotFoundError) as info:
        load_fashion_mnist()  # an explicit data_dir is never replaced by a download
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    for folder in ("env", "xdg-cache/engram/fashion-mnist", "usr-share"):
        assert str(tmp_path / folder) in message
    assert "Name or service not known" in message and "train-images-idx3-ubyte.gz" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "data_dir=" in message and "--data-dir" in message and "ENGRAM_DATA_DIR" in message
    assert calls and all(timeout <= 30 for _, timeout in calls)
    assert not cache("fashion-mnist").exists()  # nothing half-written


def test_missing_training_split_names_the_files_and_points_to_the_test_split(tmp_path):
    write_split(tmp_path, "test", 4, fill=1)
    with pytest.raises(DatasetNotFoundError) as info:
        load_mnist(tmp_path, download=False)
    message = str(info.value)
    assert f"{tmp_path}  (missing: train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte" in (
        message
    )
    assert "(not attempted)" in message and "split='test'" in message
    assert "mnist-t10k" in message and "apt-get" not in message


def test_download_fetches_verifies_and_writes_atomically(monkeypatch, tmp_path):
    served = write_all(tmp_path / "server", fill=5)
    pin(monkeypatch, served)
    bodies = {f"{p.name}": p.read_bytes() for p in served.iterdir()}
    calls = []

    def fake_fetch(url, timeout, max_bytes):
        calls.append(url)
        if url.startswith(mnist.SOURCES["mnist"].mirrors[0]):
            return b"tampered"  # first mirror serves wrong bytes: must be discarded
        return bodies[url.rsplit("/", 1)[1]]

    monkeypatch.setattr(mnist, "_fetch", fake_fetch)
    assert fill_of(load_mnist()) == 5
    assert len(calls) == 8  # four files, each tried on both mirrors
    assert sorted(p.name for p in cache().iterdir()) == sorted(bodies)  # no temporaries, no junk
    monkeypatch.setattr(mnist, "_fetch", lambda *a: pytest.fail("cached files re-downloaded"))
    assert fill_of(load_mnist()) == 5


def test_download_with_only_mismatching_mirrors_fails_without_writing(monkeypatch):
    monkeypatch.setattr(mnist, "_fetch", lambda url, timeout, max_bytes: b"not the file")
    with pytest.raises(DatasetNotFoundError, match="checksum mismatch"):
        load_mnist(split="test")
    assert not cache().exists()


def test_download_switches(monkeypatch):
    calls = []

    def offline(url, timeout, max_bytes):
        calls.append(url)
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(mnist, "_fetch", offline)
    with pytest.raises(DatasetNotFoundError):
        load_mnist(download=False)
    monkeypatch.setenv("ENGRAM_OFFLINE", "1")
    with pytest.raises(DatasetNotFoundError):
        load_mnist()
    assert calls == []
    with pytest.raises(DatasetNotFoundError):
        load_mnist(download=True)
    assert calls


def test_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="split must be one of 'all', 'train', 'test'"):
        load_mnist(tmp_path, split="validation")
    with pytest.raises(TypeError, match="download must be None, True or False"):
        load_mnist(tmp_path, download="yes")


# --- the registry ---------------------------------------------------------------------------------


def test_registry_names_and_load(tmp_path):
    assert data.DATASETS.names() == [
        "digits",
        "digits-28",
        "fashion-mnist",
        "mnist",
        "mnist-t10k",
    ]
    write_all(tmp_path, fill=2)
    assert fill_of(data.load("MNIST", data_dir=tmp_path, verify=False)) == 2
    (x_train, _), _ = data.load("digits", data_dir=tmp_path, seed=0)  # data_dir ignored
    assert x_train.shape == (1257, 8, 8)
    with pytest.raises(ValueError, match="Did you mean 'mnist'"):
        data.load("mnsit")


# --- the real files, where this machine has them --------------------------------------------------

MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture
def shared_mnist():
    if not (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"the real MNIST test split is not at {SHARED_MNIST.resolve()}")
    return SHARED_MNIST


def test_real_mnist_test_split(shared_mnist):
    x, y = load_mnist(shared_mnist, split="test")  # verified against the pinned sums
    assert x.shape == (10000, 28, 28) and x.dtype == np.uint8 and y.dtype == np.uint8
    assert np.bincount(y).tolist() == MNIST_TEST_COUNTS
    assert x.max() == 255 and x.min() == 0


def test_real_mnist_t10k_resplit(shared_mnist):
    (x_train, y_train), (x_test, y_test) = load_mnist_t10k(shared_mnist, seed=0)
    assert x_train.shape == (8000, 28, 28) and x_test.shape == (2000, 28, 28)
    counts = np.array(MNIST_TEST_COUNTS)
    assert np.all(np.abs(np.bincount(y_test) - counts * 0.2) < 1)
    np.testing.assert_array_equal(np.bincount(y_train) + np.bincount(y_test), counts)


def test_real_mnist_content_sums_match_the_gz_files(shared_mnist):
    for stem in STEMS["test"]:
        content = gzip.decompress((shared_mnist / f"{stem}.gz").read_bytes())
        assert hashlib.sha256(content).hexdigest() == CHECKSUMS["mnist"][stem].content_sha256
        assert len(content) == CHECKSUMS["mnist"][stem].content_bytes


def test_real_fashion_mnist_from_the_debian_package(monkeypatch):
    if not (DEBIAN_FASHION / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(
            f"Fashion-MNIST is not installed at {DEBIAN_FASHION} "
            "(apt-get install dataset-fashion-mnist)"
        )
    assert REAL_FASHION_SOURCE.system_dirs == (str(DEBIAN_FASHION),)
    monkeypatch.setitem(mnist.SOURCES, "fashion-mnist", REAL_FASHION_SOURCE)
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist()  # found in the system folder
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert np.bincount(y_train).tolist() == [6000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10
