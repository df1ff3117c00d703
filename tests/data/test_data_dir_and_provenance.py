"""An explicit data folder is used or refused, never replaced; the files read are recorded."""

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from engram.data import mnist
from engram.data.idx import write_idx
from engram.data.mnist import DatasetNotFoundError, load_mnist
from engram.data.provenance import note_read, record_reads, recording

STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
TEST_STEMS = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


@pytest.fixture(autouse=True)
def a_full_fallback(monkeypatch, tmp_path):
    """A complete dataset in $ENGRAM_DATA_DIR and the cache: the fallback that must not win."""
    monkeypatch.setattr(mnist, "_fetch", lambda *a: pytest.fail("a test tried to download"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("ENGRAM_OFFLINE", raising=False)
    write_full(tmp_path / "env")
    monkeypatch.setenv("ENGRAM_DATA_DIR", str(tmp_path / "env"))


def write_full(folder: Path, stems=STEMS + TEST_STEMS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for stem in stems:
        n = 6 if stem.startswith("train") else 4
        array = np.zeros((n, 28, 28), np.uint8) if "images" in stem else np.zeros(n, np.uint8)
        write_idx(folder / f"{stem}.gz", array)
    return folder


def bad_folders(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    loop = tmp_path / "loop"
    os.symlink(loop, loop)
    file = tmp_path / "a-file"
    file.write_text("x")
    empty = tmp_path / "empty"
    empty.mkdir()
    partial = write_full(tmp_path / "partial", TEST_STEMS)
    return {
        "missing": (tmp_path / "nonexistent" / "typo", "does not exist"),
        "loop": (loop, "broken symbolic link or a link loop"),
        "file": (file, "is a file, not a folder"),
        "empty": (empty, "MNIST files not found"),
        "partial": (partial, "missing: train-images-idx3-ubyte"),
    }


@pytest.mark.parametrize("case", ["missing", "loop", "file", "empty", "partial"])
def test_an_explicit_folder_is_used_or_refused(tmp_path, case):
    folder, message = bad_folders(tmp_path)[case]
    with pytest.raises(DatasetNotFoundError, match=message) as info:
        load_mnist(folder, verify=False)
    assert "never replaced" in str(info.value)


def test_the_search_order_still_applies_without_a_folder(tmp_path):
    with record_reads() as reads:
        (x_train, _), _ = load_mnist(verify=False)
    assert x_train.shape == (6, 28, 28)
    assert {Path(r.path).parent for r in reads} == {(tmp_path / "env").resolve()}


def test_reads_record_path_size_and_sha256(tmp_path):
    folder = write_full(tmp_path / "given")
    assert not recording()
    with record_reads() as reads:
        assert recording()
        load_mnist(folder, split="test", verify=False)
    assert not recording()
    assert [Path(r.path).name for r in reads] == [f"{s}.gz" for s in TEST_STEMS]
    for read in reads:
        raw = Path(read.path).read_bytes()
        assert read.bytes == len(raw) and read.sha256 == hashlib.sha256(raw).hexdigest()
    note_read(folder / f"{TEST_STEMS[0]}.gz")  # outside a block: nothing to record, no error


def test_verified_reads_are_recorded_too(tmp_path, monkeypatch):
    folder = write_full(tmp_path / "given", TEST_STEMS)
    for stem in TEST_STEMS:
        raw = (folder / f"{stem}.gz").read_bytes()
        record = mnist.FileChecksum(
            (4, 28, 28) if "images" in stem else (4,),
            frozenset([hashlib.sha256(raw).hexdigest()]),
        )
        monkeypatch.setitem(mnist.CHECKSUMS["mnist"], stem, record)
    with record_reads() as reads:
        load_mnist(folder, split="test")
    assert len(reads) == 2 and all(
        r.sha256 in mnist.CHECKSUMS["mnist"][s].file_sha256
        for r, s in zip(reads, TEST_STEMS, strict=True)
    )
