"""CIFAR-10 from its *binary* distribution (never the pickled Python one: engram never unpickles).

The binary version (``cifar-10-binary.tar.gz``, 162 MB, from the CIFAR page of Krizhevsky,
Nair and Hinton) holds ``cifar-10-batches-bin/data_batch_1.bin`` .. ``data_batch_5.bin`` and
``test_batch.bin``: 10,000 records each of one label byte (0..9) and 3,072 pixel bytes (the
red plane, then green, then blue, each 32x32 row-major).

Where: the folders of `engram.data._paths` for the name ``cifar-10`` (``data_dir=``,
``$ENGRAM_DATA_DIR``, ``~/.cache/engram/cifar-10``), each searched for the archive
``cifar-10-binary.tar.gz`` (read in memory, only the six named regular files taken, never
extracted to disk), the folder ``cifar-10-batches-bin/``, or the six ``.bin`` files directly.
engram cannot download it (these machines reach no data host): the error says how to get it.

Checks: an archive must match the MD5 sum the CIFAR page publishes before anything in it is
read; each batch file (from the archive or on disk) must be exactly 10,000 records long with
every label in 0..9. The pickled Python version found instead is refused by name.

Reference:
    Krizhevsky 2009, Learning multiple layers of features from tiny images.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path
from typing import Any

import numpy as np

from engram.data._paths import cache_dir, candidate_dirs
from engram.data.mnist import ChecksumError, DatasetNotFoundError

NAME = "cifar-10"
ARCHIVE = "cifar-10-binary.tar.gz"
#: the MD5 sum the CIFAR page publishes for the binary archive
ARCHIVE_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"
ARCHIVE_MAX_BYTES = 200_000_000
FOLDER = "cifar-10-batches-bin"
TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILES = ("test_batch.bin",)
RECORDS = 10_000
RECORD_BYTES = 1 + 3 * 32 * 32
#: the pickled Python distribution, refused by name when found instead
PICKLED = ("cifar-10-python.tar.gz", "cifar-10-batches-py")
URL = "https://www.cs.toronto.edu/~kriz/cifar.html"

Pair = tuple[np.ndarray, np.ndarray]


def parse_batch(data: bytes, where: str) -> Pair:
    """One binary batch as Keras's arrays: uint8 images (n, 32, 32, 3) and labels (n,).

    Math:
        record r = data[r * 3073 : (r + 1) * 3073];  label = record[0]
        image[row, col, ch] = record[1 + ch * 1024 + row * 32 + col]

    Raises:
        ValueError: not exactly 10,000 records, or a label above 9.
    """
    if len(data) != RECORDS * RECORD_BYTES:
        raise ValueError(
            f"{where} holds {len(data)} bytes, not {RECORDS * RECORD_BYTES} (10,000 records of "
            f"{RECORD_BYTES} bytes): it is not a CIFAR-10 binary batch, or it is truncated."
        )
    records = np.frombuffer(data, dtype=np.uint8).reshape(RECORDS, RECORD_BYTES)
    labels = records[:, 0].copy()
    if labels.max() > 9:
        raise ValueError(f"{where} has label {labels.max()}; CIFAR-10 labels are 0..9.")
    images = records[:, 1:].reshape(RECORDS, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def read_archive(
    path: Path, sizes: dict[str, int], *, md5: str, folder: str, max_bytes: int, url: str
) -> dict[str, bytes]:
    """The named regular files of a ``.tar.gz`` (under ``folder/``, each of exactly its size in
    ``sizes``), read in memory after the archive's MD5 is checked; nothing is extracted.

    Raises:
        ChecksumError: the archive is larger than ``max_bytes`` or its MD5 is not ``md5``.
        ValueError: a named file is missing or of another size.
    """
    if path.stat().st_size > max_bytes:
        raise ChecksumError(f"{path} is larger than the archive it is named after; not read.")
    data = path.read_bytes()
    digest = hashlib.md5(data, usedforsecurity=False).hexdigest()
    if digest != md5:
        raise ChecksumError(
            f"{path} has MD5 {digest}, not the published {md5} of {path.name}; it was not "
            f"read. Download it again from {url} (the binary version)."
        )
    found: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for member in archive:
            stem = member.name.removeprefix(f"{folder}/")
            if stem in sizes and member.isreg() and member.size == sizes[stem]:
                handle = archive.extractfile(member)
                if handle is not None:
                    found[stem] = handle.read()
    missing = [f"{n} of size {sizes[n]}" for n in sizes if n not in found]
    if missing:
        raise ValueError(f"{path} lacks {', '.join(missing)}.")
    return found


def _from_archive(path: Path, names: tuple[str, ...]) -> dict[str, bytes]:
    """The named batches from the archive, read in memory after its MD5 is checked."""
    sizes = dict.fromkeys(names, RECORDS * RECORD_BYTES)
    return read_archive(
        path, sizes, md5=ARCHIVE_MD5, folder=FOLDER, max_bytes=ARCHIVE_MAX_BYTES, url=URL
    )


def _read(directory: Path, names: tuple[str, ...]) -> dict[str, bytes] | None:
    """The batches from ``directory`` (archive, batches folder or files), or None."""
    if (directory / ARCHIVE).is_file():
        return _from_archive(directory / ARCHIVE, names)
    for folder in (directory / FOLDER, directory):
        if all((folder / n).is_file() for n in names):
            return {n: (folder / n).read_bytes() for n in names}
    return None


def _not_found(searched: list[str]) -> DatasetNotFoundError:
    return DatasetNotFoundError(
        "CIFAR-10 binary files not found. Needed: "
        f"{ARCHIVE}, or the folder {FOLDER}/ with {', '.join(TRAIN_FILES + TEST_FILES)}.\n"
        "Searched:\n" + "\n".join(searched) + "\n"
        f"To fix: download the binary version ({ARCHIVE}, 162 MB, md5 {ARCHIVE_MD5}) from {URL} "
        f"on a machine that can, and place it in {cache_dir(NAME)}, or pass data_dir=, or set "
        "ENGRAM_DATA_DIR to a folder holding it (or a 'cifar-10' subfolder with it). engram does "
        "not download it, and never reads the Python version (its files are pickles)."
    )


def load_cifar10(data_dir: Any = None) -> tuple[Pair, Pair]:
    """CIFAR-10 as ``keras.datasets.cifar10.load_data()`` returns it, from the binary files.

    Args:
        data_dir: a folder to search first (then ``$ENGRAM_DATA_DIR`` and the cache; see the
            module docstring); given, only it (and its ``cifar-10`` subfolder) is searched.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 ``(50000, 32, 32, 3)``, uint8
        ``(50000, 1)``, uint8 ``(10000, 32, 32, 3)``, uint8 ``(10000, 1)``.

    Raises:
        DatasetNotFoundError: no binary files found (the message says where engram looked and
            how to get them); the pickled Python version found instead (refused by name).
        ChecksumError: an archive whose MD5 is not the published one.
        ValueError: a batch file of the wrong size or with a label above 9.
    """
    if data_dir is not None:
        root = Path(data_dir).expanduser()
        dirs = [root / NAME, root]
    else:
        dirs = candidate_dirs(NAME)
    names = TRAIN_FILES + TEST_FILES
    searched = []
    for directory in dirs:
        if not directory.is_dir():
            searched.append(f"  {directory}  (no such folder)")
            continue
        found = _read(directory, names)
        if found is not None:
            return _splits(found, directory)
        pickled = [p for p in PICKLED if (directory / p).exists()]
        if pickled:
            raise DatasetNotFoundError(
                f"{directory / pickled[0]} is CIFAR-10's Python version, whose files are "
                "pickles, which engram never loads (a pickle can run code). Download the binary "
                f"version ({ARCHIVE}) from {URL} and put it in the same folder."
            )
        searched.append(f"  {directory}  (no {ARCHIVE}, {FOLDER}/ or .bin files)")
    raise _not_found(searched)


def _splits(found: dict[str, bytes], directory: Path) -> tuple[Pair, Pair]:
    def join(names: tuple[str, ...]) -> Pair:
        parts = [parse_batch(found[n], str(directory / n)) for n in names]
        images = np.concatenate([p[0] for p in parts])
        labels = np.concatenate([p[1] for p in parts]).reshape(-1, 1)
        return images, labels

    return join(TRAIN_FILES), join(TEST_FILES)
