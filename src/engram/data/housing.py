"""Keras's housing regression sets, from the ``.npz`` files Keras downloads (plain float arrays).

``boston_housing.npz`` (506 x 13) and ``california_housing.npz`` (20,640 x 8) come from Keras's
dataset bucket (``https://storage.googleapis.com/tensorflow/tf-keras-datasets/``). Each holds
two numeric arrays, ``x`` and ``y``, which NumPy reads with ``allow_pickle=False``; the file's
SHA-256 (the one Keras pins) is checked before it is parsed, from memory.

Where: the folders of `engram.data._paths` for the dataset's name (``data_dir=``,
``$ENGRAM_DATA_DIR``, ``~/.cache/engram/<name>``), then Keras's own cache
``~/.keras/datasets`` (``$KERAS_HOME/datasets``), where ``keras.datasets`` left the file.
engram does not download it (these machines reach no data host): the error says how to get it.

The split is Keras's: the rows shuffled by ``np.random.RandomState(seed)``, the first
``int(n * (1 - test_split))`` for training.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engram.data._paths import cache_dir, candidate_dirs
from engram.data.mnist import ChecksumError, DatasetNotFoundError

ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
MAX_BYTES = 50_000_000

Pair = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class NpzSource:
    """One of Keras's numeric ``.npz`` datasets: its folder name, file name and SHA-256."""

    name: str
    filename: str
    sha256: str


BOSTON = NpzSource(
    "boston-housing",
    "boston_housing.npz",
    "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5",
)
CALIFORNIA = NpzSource(
    "california-housing",
    "california_housing.npz",
    "1a2e3a52e0398de6463aebe6f4a8da34fb21fbb6b934cf88c3425e766f2a1a6f",
)


def _keras_cache() -> Path:
    home = os.environ.get("KERAS_HOME") or str(Path.home() / ".keras")
    return Path(home).expanduser() / "datasets"


def read_arrays(source: NpzSource, data_dir: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """``x`` and ``y`` of the source's file, its SHA-256 checked first.

    Raises:
        DatasetNotFoundError: the file is in none of the folders (the message says where engram
            looked and how to get it).
        ChecksumError: the file is not the one Keras pins (too large or another SHA-256).
        ValueError: the file lacks ``x`` or ``y`` or holds object arrays.
    """
    if data_dir is not None:
        root = Path(data_dir).expanduser()
        dirs = [root / source.name, root]
    else:
        dirs = [*candidate_dirs(source.name), _keras_cache()]
    for directory in dirs:
        path = directory / source.filename
        if not path.is_file():
            continue
        if path.stat().st_size > MAX_BYTES:
            raise ChecksumError(f"{path} is larger than {source.filename}; not read.")
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest != source.sha256:
            raise ChecksumError(
                f"{path} has SHA-256 {digest}, not {source.sha256} (the {source.filename} Keras "
                f"pins); it was not read. Download it again from {ORIGIN}{source.filename}."
            )
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            if not {"x", "y"} <= set(arrays.files):
                raise ValueError(f"{path} lacks the arrays 'x' and 'y'.")
            return arrays["x"], arrays["y"]
    searched = "\n".join(f"  {d}" for d in dirs)
    raise DatasetNotFoundError(
        f"{source.filename} not found. Searched:\n{searched}\n"
        f"To fix: download {ORIGIN}{source.filename} (sha256 {source.sha256}) on a machine that "
        f"can, and place it in {cache_dir(source.name)}, or pass data_dir=, or set "
        f"ENGRAM_DATA_DIR to a folder holding it. keras.datasets leaves it in {_keras_cache()}, "
        "which engram also reads. engram does not download it."
    )


def keras_split(x: np.ndarray, y: np.ndarray, test_split: float, seed: int) -> tuple[Pair, Pair]:
    """Keras's shuffle and split: rows permuted by ``np.random.RandomState(seed)``, the first
    ``int(n * (1 - test_split))`` for training, the rest for testing.

    Raises:
        ValueError: ``test_split`` not in [0, 1).
    """
    if isinstance(test_split, bool) or not (
        isinstance(test_split, (int, float)) and 0 <= test_split < 1
    ):
        raise ValueError(
            f"Invalid `test_split` argument: {test_split!r}. It must be between 0 and 1 "
            "(exclusive of 1)."
        )
    indices = np.arange(len(x))
    np.random.RandomState(seed).shuffle(indices)
    x, y = x[indices], y[indices]
    n_train = int(len(x) * (1 - test_split))
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])
