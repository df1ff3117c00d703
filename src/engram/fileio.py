"""Atomic file writes: nothing a user saved is ever left half-written.

Data goes to a temporary file in the destination's folder (``.NAME.XXXXXXXX.tmp``), is flushed
to disk, and then ``os.replace`` swaps it in; a crash at any point leaves the previous file
intact. A write that is killed (SIGKILL, power loss) cannot delete its temporary file, so the
next write to the same path removes it: the writer holds an advisory lock (``flock``) on its
temporary file until the file has been renamed, the system drops the lock when its process dies,
and a temporary file whose lock can be taken is therefore stale. Only regular files of this
user that match the pattern for that very name are touched. Where ``fcntl`` is missing
(Windows), stale files are left in place.
"""

from __future__ import annotations

import functools
import os
import re
import stat
import tempfile
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


@functools.lru_cache(maxsize=1)
def _umask() -> int:
    mask = os.umask(0o022)  # the only way to read the umask is to set it; read it once
    os.umask(mask)
    return mask


def _temporary_name(name: str) -> re.Pattern[str]:
    """The names `tempfile.mkstemp` gives the temporary files of a write to ``name``."""
    return re.compile(rf"\.{re.escape(name)}\.[a-z0-9_]{{8}}\.tmp")


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete the temporary files that killed writes to ``path`` left behind; return them.

    A temporary file still locked by a living writer is left alone.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if fcntl is None or not folder.is_dir():
        return []
    pattern = _temporary_name(path.name)
    removed = []
    for entry in os.scandir(folder):
        if pattern.fullmatch(entry.name) and _remove_if_stale(Path(entry.path)):
            removed.append(Path(entry.path))
    return removed


def _remove_if_stale(tmp: Path) -> bool:
    try:
        info = os.lstat(tmp)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid():
            return False
        fd = os.open(tmp, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        # still the same file under that name (a writer may have renamed it into place)
        if os.lstat(tmp).st_ino != os.fstat(fd).st_ino:
            return False
        os.unlink(tmp)
        return True
    except OSError:  # locked by a living writer, or gone meanwhile
        return False
    finally:
        os.close(fd)


def _locked_temporary(path: Path, folder: Path) -> tuple[int, str]:
    """A new temporary file for ``path``, locked by this process until it is closed."""
    while True:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
        if fcntl is None:
            return fd, tmp
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.lstat(tmp).st_ino == os.fstat(fd).st_ino:
                return fd, tmp
        except OSError:
            pass  # another write's cleanup took it for stale in the instant before the lock
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, ``os.replace``), after
    removing the temporary files of earlier writes to ``path`` that were killed."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    fd, tmp = _locked_temporary(path, folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give what open() would
            os.replace(tmp, path)  # renamed while still locked: never taken for stale
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))
