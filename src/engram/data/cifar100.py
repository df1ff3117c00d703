"""CIFAR-100 from its *binary* distribution (never the pickled Python one: engram never unpickles).

The binary version (``cifar-100-binary.tar.gz``, 168,513,733 bytes, on the CIFAR page of
Krizhevsky, beside the Python version Keras reads) holds ``cifar-100-binary/train.bin``
(50,000 records) and ``test.bin`` (10,000): each record is one coarse label byte (0..19), one
fine label byte (0..99) and 3,072 pixel bytes (the red plane, then green, then blue, each 32x32
row-major).

Where and checks: as `engram.data.cifar10` (the folders of `engram.data._paths` for the name
``cifar-100``; the archive read in memory after its published MD5, or the folder
``cifar-100-binary/``, or the two ``.bin`` files; each file exactly its records long, every
label in range). The pickled Python version found instead is refused by name. Nothing is
downloaded: the error says how to get the files.

Reference:
    Krizhevsky 2009, Learning multiple layers of features from tiny images.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from engram.data._paths import cache_dir, candidate_dirs
from engram.data.cifar10 import URL, read_archive
from engram.data.mnist import DatasetNotFoundError
from engram.validation import check_choice

NAME = "cifar-100"
ARCHIVE = "cifar-100-binary.tar.gz"
#: the MD5 sum the CIFAR page publishes for the binary archive
ARCHIVE_MD5 = "03b5dce01913d631647c71ecec9e9cb8"
ARCHIVE_MAX_BYTES = 200_000_000
FOLDER = "cifar-100-binary"
RECORD_BYTES = 2 + 3 * 32 * 32
#: each file and its number of records
FILES = {"train.bin": 50_000, "test.bin": 10_000}
#: the label byte of each mode in a record, and how many classes it has
LABELS = {"coarse": (0, 20), "fine": (1, 100)}
#: the pickled Python distribution, refused by name when found instead
PICKLED = ("cifar-100-python.tar.gz", "cifar-100-python")

Pair = tuple[np.ndarray, np.ndarray]


def parse_file(data: bytes, records: int, label_mode: str, where: str) -> Pair:
    """One binary file as Keras's arrays: uint8 images (n, 32, 32, 3), int64 labels (n, 1).

    Math:
        record r = data[r * 3074 : (r + 1) * 3074];  coarse = record[0], fine = record[1]
        image[row, col, ch] = record[2 + ch * 1024 + row * 32 + col]

    Raises:
        ValueError: not exactly ``records`` records, or a label out of range.
    """
    if len(data) != records * RECORD_BYTES:
        raise ValueError(
            f"{where} holds {len(data)} bytes, not {records * RECORD_BYTES} ({records} records "
            f"of {RECORD_BYTES} bytes): it is not a CIFAR-100 binary file, or it is truncated."
        )
    rows = np.frombuffer(data, dtype=np.uint8).reshape(records, RECORD_BYTES)
    for mode, (column, classes) in LABELS.items():
        if rows[:, column].max() >= classes:
            raise ValueError(
                f"{where} has {mode} label {rows[:, column].max()}; CIFAR-100's {mode} labels "
                f"are 0..{classes - 1}."
            )
    # Keras reshapes the pickled list of labels: int64, (n, 1)
    labels = rows[:, LABELS[label_mode][0]].astype(np.int64).reshape(-1, 1)
    images = rows[:, 2:].reshape(records, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def _read(directory: Path) -> dict[str, bytes] | None:
    sizes = {name: n * RECORD_BYTES for name, n in FILES.items()}
    if (directory / ARCHIVE).is_file():
        return read_archive(
            directory / ARCHIVE,
            sizes,
            md5=ARCHIVE_MD5,
            folder=FOLDER,
            max_bytes=ARCHIVE_MAX_BYTES,
            url=URL,
        )
    for folder in (directory / FOLDER, directory):
        if all((folder / n).is_file() for n in FILES):
            return {n: (folder / n).read_bytes() for n in FILES}
    return None


def load_cifar100(data_dir: Any = None, label_mode: str = "fine") -> tuple[Pair, Pair]:
    """CIFAR-100 as ``keras.datasets.cifar100.load_data(label_mode)`` returns it.

    Args:
        data_dir: a folder to search first (then ``$ENGRAM_DATA_DIR`` and the cache); given,
            only it (and its ``cifar-100`` subfolder) is searched.
        label_mode: ``"fine"`` (100 classes) or ``"coarse"`` (20 superclasses).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 ``(50000, 32, 32, 3)``, int64
        ``(50000, 1)``, uint8 ``(10000, 32, 32, 3)``, int64 ``(10000, 1)``.

    Raises:
        DatasetNotFoundError: no binary files found (the message says where engram looked and
            how to get them); the pickled Python version found instead (refused by name).
        ChecksumError: an archive whose MD5 is not the published one.
        ValueError: an unknown ``label_mode``; a file of the wrong size or with a label out of
            range.
    """
    check_choice(label_mode, "label_mode", tuple(LABELS))
    if data_dir is not None:
        root = Path(data_dir).expanduser()
        dirs = [root / NAME, root]
    else:
        dirs = candidate_dirs(NAME)
    searched = []
    for directory in dirs:
        if not directory.is_dir():
            searched.append(f"  {directory}  (no such folder)")
            continue
        found = _read(directory)
        if found is not None:
            train, test = (
                parse_file(found[name], n, label_mode, str(directory / name))
                for name, n in FILES.items()
            )
            return train, test
        pickled = [p for p in PICKLED if (directory / p).exists()]
        if pickled:
            raise DatasetNotFoundError(
                f"{directory / pickled[0]} is CIFAR-100's Python version, whose files are "
                "pickles, which engram never loads (a pickle can run code). Download the binary "
                f"version ({ARCHIVE}) from {URL} and put it in the same folder."
            )
        searched.append(f"  {directory}  (no {ARCHIVE}, {FOLDER}/ or .bin files)")
    raise DatasetNotFoundError(
        f"CIFAR-100 binary files not found. Needed: {ARCHIVE}, or the folder {FOLDER}/ with "
        f"{', '.join(FILES)}.\nSearched:\n" + "\n".join(searched) + "\n"
        f"To fix: download the binary version ({ARCHIVE}, 161 MB, md5 {ARCHIVE_MD5}) from {URL} "
        f"on a machine that can, and place it in {cache_dir(NAME)}, or pass data_dir=, or set "
        "ENGRAM_DATA_DIR to a folder holding it (or a 'cifar-100' subfolder with it). engram "
        "does not download it, and never reads the Python version (its files are pickles)."
    )
