"""Reading a zip archive in memory, safely: nothing is extracted, every entry is checked first.

A ``.keras`` file is a zip archive. Python's `zipfile` would happily extract ``../../x`` or
``/etc/x`` or inflate a small file to gigabytes; engram never extracts, and refuses, before any
entry is decompressed:

* names that are absolute, contain ``..`` or a backslash or a drive letter, or repeat;
* more than ``max_entries`` entries, or names outside the expected set;
* an entry whose declared size exceeds ``max_entry_bytes`` or whose declared sizes sum past
  ``max_total_bytes``, or whose compression ratio exceeds ``max_ratio`` (a compression bomb);
* an entry that inflates past its declared size (a lying header) -- read in bounded chunks.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass

from engram.nn.io import ModelFileError

MAX_ENTRIES = 16
MAX_ENTRY_BYTES = 2 * 1024**3
MAX_TOTAL_BYTES = 4 * 1024**3
MAX_RATIO = 200
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Limits:
    max_entries: int = MAX_ENTRIES
    max_entry_bytes: int = MAX_ENTRY_BYTES
    max_total_bytes: int = MAX_TOTAL_BYTES
    max_ratio: int = MAX_RATIO


def _bad_name(name: str) -> str | None:
    if not name or name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "is absolute"
    if "\\" in name or "\x00" in name:
        return "contains a backslash or NUL"
    if any(part in ("..", ".") for part in name.split("/")):
        return "climbs out of the archive ('..')"
    return None


def read_zip(
    data: bytes, name: str, allowed: set[str], limits: Limits = Limits()
) -> dict[str, bytes]:
    """The entries of the zip archive ``data`` whose names are in ``allowed``, as bytes.

    Raises:
        ModelFileError: the archive is malformed, or any entry breaks a rule above (the message
            names the entry and the rule).
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ModelFileError(f"{name} is not a valid zip archive ({exc}).") from None
    infos = archive.infolist()
    if len(infos) > limits.max_entries:
        raise ModelFileError(
            f"{name} has {len(infos)} archive entries; a .keras file has at most "
            f"{limits.max_entries}. Refused (too many entries)."
        )
    seen: set[str] = set()
    total = 0
    for info in infos:
        entry = info.filename
        problem = _bad_name(entry)
        if problem:
            raise ModelFileError(f"{name}: archive entry {entry!r} {problem}. Refused.")
        if entry in seen:
            raise ModelFileError(f"{name}: archive entry {entry!r} appears twice. Refused.")
        seen.add(entry)
        if entry not in allowed:
            raise ModelFileError(
                f"{name}: unexpected archive entry {entry!r}; a .keras file engram reads holds "
                f"only {sorted(allowed)}. Refused (assets and other files are not supported)."
            )
        if info.flag_bits & 0x1:
            raise ModelFileError(f"{name}: archive entry {entry!r} is encrypted. Refused.")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ModelFileError(
                f"{name}: archive entry {entry!r} uses compression method {info.compress_type};"
                " only stored and deflated entries are read. Refused."
            )
        if info.file_size > limits.max_entry_bytes:
            raise ModelFileError(
                f"{name}: archive entry {entry!r} declares {info.file_size} bytes, over the "
                f"{limits.max_entry_bytes}-byte limit. Refused (oversized entry)."
            )
        if info.file_size > limits.max_ratio * max(info.compress_size, 1) + 4096:
            raise ModelFileError(
                f"{name}: archive entry {entry!r} inflates {info.compress_size} bytes to "
                f"{info.file_size} (ratio over {limits.max_ratio}). Refused (compression bomb)."
            )
        total += info.file_size
    if total > limits.max_total_bytes:
        raise ModelFileError(
            f"{name}: archive entries declare {total} bytes in all, over the "
            f"{limits.max_total_bytes}-byte limit. Refused."
        )
    out: dict[str, bytes] = {}
    for info in infos:
        out[info.filename] = _read_bounded(archive, info, name)
    return out


def _read_bounded(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str) -> bytes:
    """Inflate one entry, never past its declared size (a lying header is refused)."""
    chunks, size = [], 0
    try:
        with archive.open(info) as handle:
            while True:
                chunk = handle.read(_CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > info.file_size:
                    raise ModelFileError(
                        f"{name}: archive entry {info.filename!r} inflates past its declared "
                        f"size {info.file_size}. Refused (compression bomb)."
                    )
                chunks.append(chunk)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise ModelFileError(
            f"{name}: archive entry {info.filename!r} is corrupted ({exc})."
        ) from None
    return b"".join(chunks)


def write_zip(entries: dict[str, bytes]) -> bytes:
    """A zip archive of ``entries`` (stored uncompressed, as Keras writes them), as bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for entry, data in entries.items():
            info = zipfile.ZipInfo(entry, date_time=(1980, 1, 1, 0, 0, 0))
            archive.writestr(info, data)
    return buffer.getvalue()
