"""CIFAR-10 from its binary files: Keras's arrays from the records, the archive read in memory
after its MD5, the pickled version refused, the how-to-get-it message when absent."""

from __future__ import annotations

import hashlib
import io
import tarfile

import numpy as np
import pytest

from engram.data import cifar10
from engram.data.mnist import ChecksumError, DatasetNotFoundError
from engram.nn import datasets


def batch_bytes(seed: int) -> tuple[bytes, np.ndarray, np.ndarray]:
    """A binary batch of random records, with the images and labels it encodes."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, cifar10.RECORDS, dtype=np.uint8)
    # different in every record, pixel and channel, yet quick to gzip (random bytes are not)
    per_record = (np.arange(cifar10.RECORDS) * 31 % 251).astype(np.uint8)
    per_pixel = (np.arange(3072) * (seed + 3) % 251).astype(np.uint8)
    planes = np.add.outer(per_record, per_pixel).reshape(cifar10.RECORDS, 3, 32, 32)
    records = np.concatenate([labels[:, None], planes.reshape(cifar10.RECORDS, -1)], axis=1)
    return records.tobytes(), planes.transpose(0, 2, 3, 1), labels


@pytest.fixture(scope="module")
def batches():
    names = cifar10.TRAIN_FILES + cifar10.TEST_FILES
    return {name: batch_bytes(i) for i, name in enumerate(names)}


def write_folder(folder, batches):
    folder.mkdir(parents=True, exist_ok=True)
    for name, (data, _, _) in batches.items():
        (folder / name).write_bytes(data)


def test_load_data_gives_keras_shapes_and_the_records_values(tmp_path, batches):
    write_folder(tmp_path / "cifar-10" / cifar10.FOLDER, batches)
    (x_train, y_train), (x_test, y_test) = datasets.cifar10.load_data(data_dir=tmp_path)
    assert x_train.shape == (50000, 32, 32, 3) and x_train.dtype == np.uint8
    assert y_train.shape == (50000, 1) and y_train.dtype == np.uint8
    assert x_test.shape == (10000, 32, 32, 3) and y_test.shape == (10000, 1)
    _, images, labels = batches["data_batch_2.bin"]
    np.testing.assert_array_equal(x_train[10000:20000], images)
    np.testing.assert_array_equal(y_train[10000:20000, 0], labels)
    np.testing.assert_array_equal(x_test, batches["test_batch.bin"][1])
    # the layout: pixel (row, col) of channel ch is byte 1 + ch * 1024 + row * 32 + col
    data = batches["test_batch.bin"][0]
    assert x_test[0, 2, 5, 1] == data[1 + 1024 + 2 * 32 + 5]


def test_the_archive_is_read_in_memory_after_its_md5(tmp_path, batches, monkeypatch):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as archive:
        for name, (data, _, _) in batches.items():
            info = tarfile.TarInfo(f"{cifar10.FOLDER}/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    (tmp_path / cifar10.ARCHIVE).write_bytes(buffer.getvalue())
    with pytest.raises(ChecksumError, match="not the published c32a1d4a"):
        cifar10.load_cifar10(tmp_path)
    digest = hashlib.md5(buffer.getvalue(), usedforsecurity=False).hexdigest()
    monkeypatch.setattr(cifar10, "ARCHIVE_MD5", digest)  # this test's archive, not CIFAR's
    (_, y_train), (x_test, _) = cifar10.load_cifar10(tmp_path)
    np.testing.assert_array_equal(x_test, batches["test_batch.bin"][1])
    assert sorted(p.name for p in tmp_path.iterdir()) == [cifar10.ARCHIVE]  # nothing extracted


def test_a_truncated_batch_or_a_bad_label_is_refused(tmp_path, batches):
    write_folder(tmp_path, batches)
    (tmp_path / "test_batch.bin").write_bytes(batches["test_batch.bin"][0][:-1])
    with pytest.raises(ValueError, match="not 30730000 .* truncated"):
        cifar10.load_cifar10(tmp_path)
    bad = bytearray(batches["test_batch.bin"][0])
    bad[cifar10.RECORD_BYTES] = 12  # the second record's label
    (tmp_path / "test_batch.bin").write_bytes(bytes(bad))
    with pytest.raises(ValueError, match="has label 12"):
        cifar10.load_cifar10(tmp_path)


def test_the_pickled_python_version_is_refused_by_name(tmp_path):
    (tmp_path / "cifar-10-batches-py").mkdir()
    with pytest.raises(DatasetNotFoundError, match="Python version, whose files are pickles"):
        cifar10.load_cifar10(tmp_path)


def test_absent_files_say_where_engram_looked_and_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("ENGRAM_DATA_DIR", raising=False)
    with pytest.raises(DatasetNotFoundError) as error:
        datasets.cifar10.load_data()
    message = str(error.value)
    assert "cifar-10-binary.tar.gz" in message and "md5 c32a1d4ab5d03f1284b67883e8d87530" in message
    assert str(tmp_path / "cache" / "engram" / "cifar-10") in message
    assert "engram does not download it" in message
