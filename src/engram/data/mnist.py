"""MNIST and Fashion-MNIST from local IDX files, checked against pinned SHA-256 sums.

``load_mnist()`` and ``load_fashion_mnist()`` return ``(x_train, y_train), (x_test, y_test)`` as
Keras does: uint8 images ``(n, 28, 28)`` in 0..255 and uint8 labels ``(n,)`` in 0..9. The four
standard files are looked for, ``.gz`` or uncompressed::

    train-images-idx3-ubyte   train-labels-idx1-ubyte   (60,000 samples)
    t10k-images-idx3-ubyte    t10k-labels-idx1-ubyte    (10,000 samples)

Where: see `engram.data._paths` (``data_dir=``, ``$ENGRAM_DATA_DIR``, ``~/.cache/engram/<name>``,
then ``/usr/share/datasets/fashion-mnist`` for Fashion-MNIST). A folder that lacks a file of the
requested split is skipped. ``split="test"`` needs only the two t10k files. A folder given as
``data_dir=`` (``--data-dir``) is the only one searched (as ``data_dir/<name>`` and
``data_dir``): it is used or refused with `DatasetNotFoundError`, never silently replaced by
another folder or a download. Every file parsed is noted with
`engram.data.provenance.note_read` (path, size, SHA-256) for the run's report.

Integrity. With ``verify=True`` (the default) every file is hashed before it is parsed, and a
file is parsed only if it matches a pinned sum; otherwise `ChecksumError` is raised and the file
is never handed to the IDX parser. A file matches when either

* the SHA-256 of the file as stored equals a pinned sum of a known distribution of it (the
  canonical ``.gz`` archives; for Fashion-MNIST also the Debian package's re-compressed
  ``.gz``), or
* the file is gzip-compressed or uncompressed and the SHA-256 of its *uncompressed* IDX bytes
  equals the pinned content sum (so any re-compression, or a gunzipped copy, is accepted).
  Decompression for this check stops one byte past the expected size.

The pinned sums, and how each was confirmed, are in `engram.data._sources`. In short: all
four canonical ``.gz`` archives of both datasets; the Debian package's Fashion-MNIST ``.gz``
files; the uncompressed content of MNIST t10k and of all Fashion-MNIST files. The MNIST
training files have no pinned content sum, so only their canonical ``.gz`` form verifies.

``verify=False`` skips hashing (for files you made, e.g. in tests, or trust); the files are
still parsed by the strict `read_idx` and checked for shapes ``(n, 28, 28)`` / ``(n,)``.

Downloads. When no searched folder holds the files, ``download=None`` (the default) fetches the
canonical ``.gz`` files into the user cache over HTTP(S) with a short timeout, checks each
against the pinned sums *before* it is written (atomically) into place, and never parses a
mismatching file; set ``ENGRAM_OFFLINE=1`` to turn this off. ``download=True`` downloads even
when ``ENGRAM_OFFLINE`` is set, ``download=False`` never does. A failed download raises
`DatasetNotFoundError`, which says where engram looked and how to get the files.

Reference:
    LeCun, Bottou, Bengio & Haffner (1998), Gradient-based learning applied to document
    recognition. Xiao, Rasul & Vollgraf (2017), Fashion-MNIST: a novel image dataset for
    benchmarking machine learning algorithms, arXiv:1708.07747.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import zlib
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np

from engram.data._paths import cache_dir, candidate_dirs
from engram.data._sources import CHECKSUMS, SOURCES, SPLIT_FILES, FileChecksum, Source
from engram.data.idx import GZIP_MAGIC, read_idx
from engram.data.provenance import note_read
from engram.fileio import atomic_write_bytes
from engram.validation import Seed, check_choice

__all__ = [
    "CHECKSUMS",
    "ChecksumError",
    "DatasetNotFoundError",
    "FileChecksum",
    "load_fashion_mnist",
    "load_mnist",
    "load_mnist_t10k",
]

Pair = tuple[np.ndarray, np.ndarray]
PathArg = str | os.PathLike[str] | None
DOWNLOAD_TIMEOUT_S = 10.0
ENV_OFFLINE = "ENGRAM_OFFLINE"


class DatasetNotFoundError(FileNotFoundError):
    """The dataset's files are in none of the searched folders and could not be downloaded."""


class ChecksumError(ValueError):
    """A dataset file does not match its pinned SHA-256 sum; it was not parsed."""


def _fetch(url: str, timeout: float, max_bytes: int) -> bytes:
    """GET ``url``, refusing bodies over ``max_bytes``. Tests replace this function."""
    import urllib.request  # imported here: it costs ~30 ms and most runs never download

    with urllib.request.urlopen(url, timeout=timeout) as response:
        body = response.read(max_bytes + 1)
    if len(body) > max_bytes:
        raise OSError(f"{url} sent more than {max_bytes} bytes")
    return body


def _find(directory: Path, stem: str) -> Path | None:
    for candidate in (directory / f"{stem}.gz", directory / stem):
        if candidate.is_file():
            return candidate
    return None


def _explicit(data_dir: Any) -> Path | None:
    """The folder named by ``data_dir`` (None or "" for the search order), checked to exist.

    Raises:
        DatasetNotFoundError: the folder is missing, a broken link or link loop, or a file.
    """
    if data_dir is None or str(data_dir) == "":
        return None
    folder = Path(data_dir).expanduser()
    if folder.is_dir():
        return folder
    if folder.is_symlink():
        problem = "is a broken symbolic link or a link loop"
    elif folder.exists():
        problem = "is a file, not a folder"
    else:
        problem = "does not exist"
    raise DatasetNotFoundError(
        f"data_dir {str(data_dir)!r} (--data-dir) {problem}. A folder named explicitly is used "
        "or refused, never replaced by another one. To fix: give the folder that holds the IDX "
        "files, or leave data_dir out to search $ENGRAM_DATA_DIR, the cache and the system "
        "folders (and download)."
    )


def _locate(
    source: Source, stems: list[str], data_dir: Any
) -> tuple[dict[str, Path] | None, list[str]]:
    """The first searched folder holding every file in ``stems``, and a line per folder tried."""
    searched = []
    explicit = _explicit(data_dir)
    if explicit is not None:  # a folder the user named is used or refused, never replaced
        dirs = [explicit / source.name, explicit]
    else:
        dirs = candidate_dirs(source.name, None, source.system_dirs)
    for directory in dirs:
        if not directory.is_dir():
            searched.append(f"  {directory}  (no such folder)")
            continue
        found = {stem: _find(directory, stem) for stem in stems}
        missing = [stem for stem, path in found.items() if path is None]
        if not missing:
            return {stem: path for stem, path in found.items() if path is not None}, searched
        searched.append(f"  {directory}  (missing: {', '.join(s + '[.gz]' for s in missing)})")
    return None, searched


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _gunzip_capped(data: bytes, limit: int) -> bytes | None:
    """Decompress ``data``, giving up (None) past ``limit`` bytes or on a corrupt stream."""
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            content = stream.read(limit + 1)
    except (OSError, EOFError, zlib.error):
        return None
    return content if len(content) <= limit else None


def _verified_bytes(path: Path, record: FileChecksum) -> bytes:
    """The bytes of ``path`` to parse, after checking them against ``record``.

    Raises:
        ChecksumError: no pinned sum matches (the file is too large to be the pinned one, its
            own sum is unknown, and its uncompressed content has another sum).
    """
    limit = record.content_bytes + 2**20
    size = path.stat().st_size
    data = path.read_bytes() if size <= limit else b""
    note_read(path, data)
    digest = _sha256(data) if data else "(not computed)"
    if data and digest in record.file_sha256:
        return data
    content = _gunzip_capped(data, record.content_bytes) if data[:2] == GZIP_MAGIC else data
    if content and record.content_sha256 and _sha256(content) == record.content_sha256:
        return content
    raise ChecksumError(_mismatch_message(path, size, digest, record))


def _mismatch_message(path: Path, size: int, digest: str, record: FileChecksum) -> str:
    known = ", ".join(sorted(record.file_sha256))
    content = record.content_sha256 or "not pinned (only the .gz archives can be verified)"
    return (
        f"{path}: checksum mismatch, the file was not parsed. It has {size} bytes and "
        f"SHA-256 {digest}; expected a file with SHA-256 one of [{known}], or whose "
        f"uncompressed IDX content ({record.content_bytes} bytes) has SHA-256 {content}. "
        "The file is corrupt, truncated or a different dataset: delete it and fetch it again. "
        "If you made it yourself or trust it, pass verify=False."
    )


def _offline() -> bool:
    return os.environ.get(ENV_OFFLINE, "") not in ("", "0")


def _not_found(
    source: Source, stems: list[str], searched: list[str], failures: list[str], data_dir: Any
) -> DatasetNotFoundError:
    wanted = ", ".join(f"{stem}[.gz]" for stem in stems)
    download = "\n".join(failures) if failures else "  (not attempted)"
    hint = ""
    test_stems = list(SPLIT_FILES["test"])
    if stems != test_stems:
        found, _ = _locate(source, test_stems, data_dir)
        if found:
            where = next(iter(found.values())).parent
            also = " (or load('mnist-t10k') for an 8,000/2,000 split of it)"
            hint = f"\nThe test split alone is in {where}: load it with split='test'"
            hint += (also if source.name == "mnist" else "") + "."
    if _explicit(data_dir) is not None:
        hint += (
            "\nOnly the folder given as data_dir (--data-dir) was searched: a folder named "
            "explicitly is used or refused, never replaced. Leave it out to search the other "
            "folders and download."
        )
    return DatasetNotFoundError(
        f"{source.title} files not found. Needed: {wanted}.\nSearched:\n"
        + "\n".join(searched)
        + f"\nDownload:\n{download}\n"
        f"To fix: {source.install_hint}place the IDX files (.gz or uncompressed) in "
        f"{cache_dir(source.name)}, or pass data_dir= (--data-dir on the command line), or "
        "set ENGRAM_DATA_DIR to a folder holding them (or a '"
        f"{source.name}' subfolder with them). split='test' needs only the two t10k files." + hint
    )


def _download_one(source: Source, stem: str, target: Path, failures: list[str]) -> bool:
    """Fetch ``stem``.gz from the first mirror whose bytes match a pinned sum, into ``target``."""
    record = CHECKSUMS[source.name][stem]
    for mirror in source.mirrors:
        url = f"{mirror}{stem}.gz"
        try:
            body = _fetch(url, DOWNLOAD_TIMEOUT_S, record.content_bytes + 2**20)
        except (OSError, ValueError) as exc:  # URLError, HTTPError and timeouts are OSErrors
            failures.append(f"  {url}: {exc}")
            continue
        if _sha256(body) not in record.file_sha256:
            failures.append(f"  {url}: checksum mismatch (SHA-256 {_sha256(body)}), discarded")
            continue
        atomic_write_bytes(target / f"{stem}.gz", body)
        return True
    return False


def _download(
    source: Source, stems: list[str], searched: list[str], data_dir: Any
) -> dict[str, Path]:
    target = cache_dir(source.name)
    failures: list[str] = []
    for stem in stems:
        if _find(target, stem) is None and not _download_one(source, stem, target, failures):
            raise _not_found(source, stems, searched, failures, data_dir)
    return {stem: path for stem in stems if (path := _find(target, stem)) is not None}


def _resolve(
    source: Source, stems: list[str], data_dir: Any, download: bool | None
) -> dict[str, Path]:
    """Paths of ``stems`` from the first folder holding them all, downloading if allowed."""
    if download is not None and not isinstance(download, bool):
        raise TypeError(f"download must be None, True or False. Got {download!r} instead.")
    paths, searched = _locate(source, stems, data_dir)
    if paths is not None:
        return paths
    if _explicit(data_dir) is not None or download is False or (download is None and _offline()):
        raise _not_found(source, stems, searched, [], data_dir)
    return _download(source, stems, searched, data_dir)


def _check_pair(images: np.ndarray, labels: np.ndarray, paths: list[Path]) -> Pair:
    """Check that an images file and a labels file form a dataset split."""
    where = f"{paths[0]} and {paths[1]}"
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(
            f"{paths[0]} must hold uint8 images of shape (n, 28, 28). Got shape "
            f"{images.shape} and dtype {images.dtype} instead."
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise ValueError(
            f"{paths[1]} must hold uint8 labels of shape (n,). Got shape {labels.shape} and "
            f"dtype {labels.dtype} instead."
        )
    if len(images) != len(labels):
        raise ValueError(f"{where} disagree: {len(images)} images but {len(labels)} labels.")
    if labels.size and labels.max() > 9:
        raise ValueError(f"{paths[1]} has label {labels.max()}; labels must be 0..9.")
    return images, labels


def _load(
    dataset: str, split: str, data_dir: Any, download: bool | None, verify: bool
) -> tuple[Pair, Pair] | Pair:
    check_choice(split, "split", ("all", "train", "test"))
    splits = ("train", "test") if split == "all" else (split,)
    stems = [stem for name in splits for stem in SPLIT_FILES[name]]
    paths = _resolve(SOURCES[dataset], stems, data_dir, download)
    if verify:  # every file is checked before any is parsed
        blobs = {stem: _verified_bytes(paths[stem], CHECKSUMS[dataset][stem]) for stem in stems}
        arrays = {stem: read_idx(io.BytesIO(b), name=str(paths[stem])) for stem, b in blobs.items()}
    else:
        for stem in stems:
            note_read(paths[stem])
        arrays = {stem: read_idx(paths[stem]) for stem in stems}
    pairs = []
    for name in splits:
        images, labels = SPLIT_FILES[name]
        pairs.append(_check_pair(arrays[images], arrays[labels], [paths[images], paths[labels]]))
    return (pairs[0], pairs[1]) if split == "all" else pairs[0]


@overload
def load_mnist(
    data_dir: PathArg = ...,
    *,
    split: Literal["all"] = ...,
    download: bool | None = ...,
    verify: bool = ...,
) -> tuple[Pair, Pair]: ...
@overload
def load_mnist(
    data_dir: PathArg = ...,
    *,
    split: Literal["train", "test"],
    download: bool | None = ...,
    verify: bool = ...,
) -> Pair: ...
def load_mnist(
    data_dir: PathArg = None,
    *,
    split: str = "all",
    download: bool | None = None,
    verify: bool = True,
) -> tuple[Pair, Pair] | Pair:
    """Load MNIST handwritten digits from local IDX files, as ``keras.datasets.mnist`` does.

    Args:
        data_dir: a folder holding the files (or a ``mnist`` subfolder with them), searched
            before ``$ENGRAM_DATA_DIR`` and ``~/.cache/engram/mnist``.
        split: ``"all"`` for both splits, ``"train"`` or ``"test"`` for one (``"test"`` needs
            only the two t10k files).
        download: None: fetch the files into the cache when none of the folders has them
            (unless ``ENGRAM_OFFLINE=1``); True: fetch even then; False: never.
        verify: check every file against the pinned SHA-256 sums before parsing it (see the
            module docstring). False skips the check, for files you made or trust.

    Returns:
        ``split="all"``: ``(x_train, y_train), (x_test, y_test)`` with x uint8 ``(n, 28, 28)``
        in 0..255 and y uint8 ``(n,)`` in 0..9 (60,000 and 10,000 samples).
        ``split="train"`` or ``"test"``: that split's ``(x, y)``.

    Raises:
        DatasetNotFoundError: no searched folder holds the files and they could not be
            downloaded; the message lists the folders searched and how to get the files.
        ChecksumError: a file does not match its pinned sum (it is not parsed).
        IDXError: a file is not valid IDX (only reachable with ``verify=False``).
        ValueError: ``split`` is unknown, or the files do not form ``(n, 28, 28)`` / ``(n,)``.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = load_mnist()  # doctest: +SKIP
        >>> x_test, y_test = load_mnist("../shared/datasets/mnist", split="test")  # doctest: +SKIP
        >>> x_test.shape, y_test.dtype  # doctest: +SKIP
        ((10000, 28, 28), dtype('uint8'))
    """
    return _load("mnist", split, data_dir, download, verify)


@overload
def load_fashion_mnist(
    data_dir: PathArg = ...,
    *,
    split: Literal["all"] = ...,
    download: bool | None = ...,
    verify: bool = ...,
) -> tuple[Pair, Pair]: ...
@overload
def load_fashion_mnist(
    data_dir: PathArg = ...,
    *,
    split: Literal["train", "test"],
    download: bool | None = ...,
    verify: bool = ...,
) -> Pair: ...
def load_fashion_mnist(
    data_dir: PathArg = None,
    *,
    split: str = "all",
    download: bool | None = None,
    verify: bool = True,
) -> tuple[Pair, Pair] | Pair:
    """Load Fashion-MNIST (Zalando article images, 10 classes) as ``load_mnist`` loads MNIST.

    Same files, shapes, dtypes, arguments and errors as `load_mnist`; the folders searched also
    include ``/usr/share/datasets/fashion-mnist`` (``apt-get install dataset-fashion-mnist``).
    Classes: 0 T-shirt/top, 1 trouser, 2 pullover, 3 dress, 4 coat, 5 sandal, 6 shirt,
    7 sneaker, 8 bag, 9 ankle boot.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = load_fashion_mnist()  # doctest: +SKIP
        >>> x_train.shape  # doctest: +SKIP
        (60000, 28, 28)
    """
    return _load("fashion-mnist", split, data_dir, download, verify)


def load_mnist_t10k(
    data_dir: PathArg = None,
    *,
    test_fraction: float = 0.2,
    seed: Seed = 0,
    download: bool | None = None,
    verify: bool = True,
) -> tuple[Pair, Pair]:
    """The 10,000 real MNIST test digits, split (stratified) into a train and a test part.

    For machines that have only the t10k files: by default 8,000 digits to train on and
    2,000 to test on, every digit class in the same proportion in both.

    Args:
        data_dir, download, verify: as in `load_mnist`.
        test_fraction: share of the 10,000 digits put in the test part.
        seed: seed (int, Generator or None) of the split.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 ``(n, 28, 28)`` and uint8 ``(n,)``.

    Raises:
        ValueError: a test_fraction outside (0, 1); otherwise as `load_mnist`.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = load_mnist_t10k("../shared/datasets/mnist")
        ... # doctest: +SKIP
        >>> len(x_train), len(x_test)  # doctest: +SKIP
        (8000, 2000)
    """
    from engram.data.synthetic import train_test_split

    x, y = load_mnist(data_dir, split="test", download=download, verify=verify)
    return train_test_split(x, y, test_fraction=test_fraction, seed=seed, stratify=True)
