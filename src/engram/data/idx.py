"""A strict reader and an atomic writer for the IDX format (the MNIST file format).

An IDX file is a 4-byte magic number, one big-endian uint32 per dimension, then the payload in
C order, big-endian::

    offset  size        field
    0       2 bytes     zero bytes 0x00 0x00
    2       1 byte      type code  0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                                   0x0D float32, 0x0E float64
    3       1 byte      ndim (engram accepts 1..8)
    4       4 * ndim    dims, each a big-endian uint32
    4+4*ndim            payload: product(dims) * itemsize bytes, big-endian

Files may be gzip-compressed (detected by the gzip magic bytes 1f 8b, not by the file name).

`read_idx` trusts nothing in the file: it checks the magic, the type code, the rank, caps the
declared size *before* reading the payload (so a forged header cannot make it allocate
gigabytes), reads the payload in bounded chunks, and requires the payload length to equal the
declared size exactly (a truncated file and trailing bytes are both errors). Every problem,
including a corrupt gzip stream, raises `IDXError` naming the file and the field.

Reference:
    LeCun, Cortes & Burges, "The MNIST database of handwritten digits", file format section,
    http://yann.lecun.com/exdb/mnist/
"""

from __future__ import annotations

import gzip
import io
import math
import os
import zlib
from pathlib import Path
from typing import IO, Any

import numpy as np

from engram.fileio import atomic_write_bytes

__all__ = ["DEFAULT_MAX_BYTES", "IDXError", "MAX_NDIM", "read_idx", "write_idx"]

DEFAULT_MAX_BYTES = 2 * 1024**3  # 2 GiB: largest payload read_idx accepts unless told otherwise
MAX_NDIM = 8
GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 8 * 1024**2
_TRAILING_PROBE = 1024**2

# type code -> big-endian dtype of the payload
TYPE_CODES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_OF_KIND = {(dt.kind, dt.itemsize): code for code, dt in TYPE_CODES.items()}
_GZIP_ERRORS = (OSError, EOFError, zlib.error)  # gzip.BadGzipFile is an OSError


class IDXError(ValueError):
    """An IDX file is malformed: bad magic, unknown type code, bad rank, wrong payload length,
    a declared size above the cap, or a corrupt gzip stream. The message names the file and
    the field."""


class _Prefixed(io.RawIOBase):
    """A read-only stream that yields ``prefix`` and then the rest of ``stream``."""

    def __init__(self, prefix: bytes, stream: IO[bytes]) -> None:
        self._prefix = prefix
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._prefix:
            n = min(len(view), len(self._prefix))
            view[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        data = self._stream.read(len(view))
        view[: len(data)] = data
        return len(data)


def _read_up_to(stream: IO[bytes], n: int) -> bytes:
    """Read up to ``n`` bytes, fewer only at end of stream."""
    parts, got = [], 0
    while got < n:
        part = stream.read(n - got)
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def _source_label(source: Any) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    name = getattr(source, "name", None)
    return str(name) if isinstance(name, (str, os.PathLike)) else "<IDX stream>"


def _read_header(stream: IO[bytes], label: str) -> tuple[np.dtype, tuple[int, ...]]:
    """Read and check the magic number and dims; return (big-endian dtype, shape)."""
    magic = _read_up_to(stream, 4)
    if len(magic) < 4:
        raise IDXError(
            f"{label}: header is truncated: the magic number needs 4 bytes but the file has "
            f"{len(magic)}. This is not an IDX file (or it is empty)."
        )
    if magic[:2] != b"\x00\x00":
        raise IDXError(
            f"{label}: bad magic number: the first two bytes must be 00 00, got "
            f"{magic[:2].hex(' ')}. This is not an IDX file."
        )
    code, ndim = magic[2], magic[3]
    if code not in TYPE_CODES:
        known = ", ".join(f"0x{c:02X} ({TYPE_CODES[c].name})" for c in TYPE_CODES)
        raise IDXError(f"{label}: unknown type code 0x{code:02X} in byte 2. Known: {known}.")
    if not 1 <= ndim <= MAX_NDIM:
        raise IDXError(f"{label}: rank (byte 3) is {ndim}, but must be between 1 and {MAX_NDIM}.")
    raw_dims = _read_up_to(stream, 4 * ndim)
    if len(raw_dims) < 4 * ndim:
        raise IDXError(
            f"{label}: header is truncated: rank {ndim} needs {4 * ndim} bytes of dims after "
            f"the magic number, but only {len(raw_dims)} are present."
        )
    shape = tuple(int(d) for d in np.frombuffer(raw_dims, dtype=">u4"))
    return TYPE_CODES[code], shape


def _read_payload(stream: IO[bytes], nbytes: int, label: str, declared: str) -> bytearray:
    """Read exactly ``nbytes`` in bounded chunks, then make sure nothing follows."""
    buffer = bytearray()
    while len(buffer) < nbytes:
        chunk = stream.read(min(_CHUNK, nbytes - len(buffer)))
        if not chunk:
            raise IDXError(
                f"{label}: header declares {declared} but the payload has {len(buffer)} bytes "
                "(truncated file?)"
            )
        buffer += chunk
    extra = len(_read_up_to(stream, _TRAILING_PROBE + 1))
    if extra:
        count = f"more than {_TRAILING_PROBE}" if extra > _TRAILING_PROBE else str(extra)
        raise IDXError(
            f"{label}: header declares {declared} but the payload has {count} trailing "
            "byte(s) after it (wrong header, or several files joined?)"
        )
    return buffer


def _parse(stream: IO[bytes], label: str, max_bytes: int) -> np.ndarray:
    dtype, shape = _read_header(stream, label)
    nbytes = math.prod(shape) * dtype.itemsize
    declared = f"{' x '.join(map(str, shape))} = {nbytes} bytes of {dtype.name}"
    span = math.prod(max(d, 1) for d in shape) * dtype.itemsize  # zero dims counted as 1
    if span > max_bytes:
        size = declared if nbytes else f"{declared} (but {span} with the zero dims as 1)"
        raise IDXError(
            f"{label}: header declares {size}, above the limit max_bytes={max_bytes}. "
            "The file is corrupt or forged; if it is genuine, pass a larger max_bytes=."
        )
    payload = _read_payload(stream, nbytes, label, declared)
    array = np.frombuffer(payload, dtype=dtype).reshape(shape)
    native = dtype.newbyteorder("=")
    return array if dtype.itemsize == 1 else array.astype(native)


def _check_max_bytes(max_bytes: Any) -> int:
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int):
        raise TypeError(f"max_bytes must be an int. Got {type(max_bytes).__name__} instead.")
    if max_bytes < 0:
        raise ValueError(f"max_bytes must be >= 0. Got {max_bytes} instead.")
    return max_bytes


def read_idx(
    source: str | os.PathLike[str] | IO[bytes],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    name: str | None = None,
) -> np.ndarray:
    """Read an IDX file (raw or gzip-compressed) into a native-endian NumPy array.

    Args:
        source: a path, or a binary file object opened for reading (it is not closed).
        max_bytes: the largest payload accepted, checked against the header before any
            payload is read. Default 2 GiB.
        name: what to call the source in error messages (default: its path or ``.name``).

    Returns:
        An array with the header's shape and dtype (uint8, int8, int16, int32, float32 or
        float64), native byte order. uint8 and int8 arrays are writable views of the read
        buffer; wider types are converted copies.

    Raises:
        IDXError: bad magic, unknown type code, rank outside 1..8, truncated header or payload,
            trailing bytes, declared size above ``max_bytes``, or a corrupt gzip stream.
        FileNotFoundError: ``source`` is a path that does not exist.

    Example:
        >>> images = read_idx("t10k-images-idx3-ubyte.gz")  # doctest: +SKIP
        >>> images.shape, images.dtype  # doctest: +SKIP
        ((10000, 28, 28), dtype('uint8'))
    """
    max_bytes = _check_max_bytes(max_bytes)
    label = name or _source_label(source)
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as handle:
            return _read_stream(handle, label, max_bytes)
    if not callable(getattr(source, "read", None)):
        raise TypeError(
            f"source must be a path or a binary file object. Got {type(source).__name__}."
        )
    return _read_stream(source, label, max_bytes)


def _read_stream(handle: IO[bytes], label: str, max_bytes: int) -> np.ndarray:
    head = _read_up_to(handle, 2)
    stream = io.BufferedReader(_Prefixed(head, handle))
    if head != GZIP_MAGIC:
        return _parse(stream, label, max_bytes)
    try:
        with gzip.GzipFile(fileobj=stream, mode="rb") as unzipped:
            return _parse(unzipped, label, max_bytes)
    except _GZIP_ERRORS as exc:
        raise IDXError(f"{label}: corrupt gzip stream: {exc}") from None


def _idx_bytes(array: np.ndarray) -> bytes:
    """Header and big-endian payload of ``array`` (checked dtype and rank)."""
    code = _CODE_OF_KIND.get((array.dtype.kind, array.dtype.itemsize))
    if code is None:
        names = ", ".join(dt.name for dt in TYPE_CODES.values())
        raise TypeError(f"array dtype must be one of {names}. Got {array.dtype} instead.")
    if not 1 <= array.ndim <= MAX_NDIM:
        raise ValueError(
            f"array must have 1 to {MAX_NDIM} dimensions. Got shape {array.shape} instead."
        )
    if max(array.shape) >= 2**32:
        raise ValueError(f"every dimension must be below 2**32. Got shape {array.shape}.")
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = np.ascontiguousarray(array, dtype=TYPE_CODES[code]).tobytes()
    return header + payload


def write_idx(path: str | os.PathLike[str], array: Any, *, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file, atomically (temporary name, then `os.replace`).

    Args:
        path: destination file. Its folder must exist.
        array: array-like of dtype uint8, int8, int16, int32, float32 or float64, 1 to 8 dims.
        compress: gzip the file. Default: when ``path`` ends with ``.gz``. The gzip header
            carries no name and mtime 0, so equal arrays give equal files.

    Returns:
        The destination path.

    Raises:
        TypeError: unsupported dtype (e.g. int64 or bool: cast first).
        ValueError: rank outside 1..8, or a dimension too large for the header.

    Example:
        >>> write_idx(tmp / "labels-idx1-ubyte.gz", np.arange(10, dtype=np.uint8))  # doctest: +SKIP
    """
    destination = Path(path)
    data = _idx_bytes(np.asarray(array))
    if destination.name.endswith(".gz") if compress is None else compress:
        data = gzip.compress(data, mtime=0)
    if not destination.parent.is_dir():
        raise FileNotFoundError(f"The folder of {str(destination)!r} does not exist.")
    atomic_write_bytes(destination, data)
    return destination
