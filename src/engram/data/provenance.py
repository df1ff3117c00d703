"""Which data files a run read: path, size and SHA-256, recorded as the loaders read them.

A report must name the data actually used, not the folder a user asked for. File-based loaders
call `note_read` for every file they parse; inside a `record_reads` block those reads are
collected (outside one, `note_read` does nothing and costs nothing). The experiment runner wraps
each run in `record_reads` and writes the list into ``metrics.json`` and the report.

Example:
    >>> from engram.data import load_mnist
    >>> with record_reads() as reads:  # doctest: +SKIP
    ...     load_mnist("/data/mnist", split="test")
    >>> [r.path for r in reads]  # doctest: +SKIP
    ['/data/mnist/t10k-images-idx3-ubyte.gz', '/data/mnist/t10k-labels-idx1-ubyte.gz']
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

_READS: contextvars.ContextVar[list[FileRead] | None] = contextvars.ContextVar(
    "engram_data_reads", default=None
)


@dataclass(frozen=True)
class FileRead:
    """One data file as read: its resolved path, size in bytes and SHA-256 of its bytes."""

    path: str
    bytes: int
    sha256: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@contextlib.contextmanager
def record_reads() -> Iterator[list[FileRead]]:
    """Collect every `note_read` made inside the block into the yielded list (in order)."""
    reads: list[FileRead] = []
    token = _READS.set(reads)
    try:
        yield reads
    finally:
        _READS.reset(token)


def recording() -> bool:
    """Whether a `record_reads` block is collecting reads (so loaders need to hash)."""
    return _READS.get() is not None


def note_read(path: str | os.PathLike[str], data: bytes | None = None) -> None:
    """Record that ``path`` was read; ``data`` is its bytes as stored (read again if None)."""
    reads = _READS.get()
    if reads is None:
        return
    resolved = Path(path).resolve()
    if data is None:
        data = resolved.read_bytes()
    reads.append(FileRead(str(resolved), len(data), hashlib.sha256(data).hexdigest()))
