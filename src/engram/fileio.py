"""Atomic file writes: nothing a user saved is ever left half-written.

Data goes to a temporary file in the destination's folder (``.NAME.XXXXXXXX.tmp``), is flushed
to disk, and then ``os.replace`` swaps it in; a crash at any point leaves the previous file
intact. A write that is killed (SIGKILL, power loss) cannot delete its temporary file, so the
next write to the same path removes it: the writer holds an advisory lock (``flock``) on its
temporary file until the file has been renamed, the system drops the lock when its process dies,
and a temporary file whose lock can be taken is therefore stale. Only regular files of this
user that match the pattern for that very name are touched. Where ``fcntl`` is missing
(Windows), stale files are left in place.
A whole folder (a run's report) is written the same way by `staged_folder`: into a hidden
sibling, then renamed into place, so a folder never mixes files of two runs.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import os
import re
import shutil
import signal
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
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


# --------------------------------------------------------------------------- whole folders

PARTIAL = ".partial-"
EARLIER = ".earlier-"
# what marks a folder as an earlier engram run, which a new run may move aside
RUN_MARKERS = ("metrics.json", "report.html", "report.md")


def _nearest_existing(path: Path) -> Path:
    """``path`` or the closest of its parents that exists (without following a loop)."""
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return candidate
    return Path(".")


def check_output_folder(path: str | os.PathLike, what: str = "--out") -> Path:
    """Check, before any work, that a run can be written to folder ``path``.

    The folder may be missing (it is made), empty, or an earlier run (it holds a
    ``metrics.json`` or a report; it is moved aside, see `staged_folder`). The first existing
    folder on the way must accept a new folder: that is tried by making and removing one.

    Returns:
        ``path`` as a `Path` (``~`` expanded).

    Raises:
        ValueError: ``path`` is empty, is or lies under a file, cannot be written, or is a
            folder holding other files; the message says which and how to fix it.
    """
    if not str(path).strip():
        raise ValueError(f"{what} must name a folder. Got {str(path)!r} instead.")
    out = Path(path).expanduser()
    existing = _nearest_existing(out.absolute())
    if existing.is_symlink() and not existing.exists():
        raise ValueError(f"{what} {out}: {existing} is a broken symbolic link or a link loop.")
    if not existing.is_dir():
        where = "is a file" if existing == out.absolute() else f"lies under the file {existing}"
        raise ValueError(f"{what} {out} {where}, not a folder. Choose another folder.")
    if existing == out.absolute():
        try:
            others = [p.name for p in out.iterdir()]
        except OSError as exc:
            raise ValueError(f"{what} {out} cannot be read ({exc.strerror or exc}).") from None
        if others and not any((out / marker).is_file() for marker in RUN_MARKERS):
            raise ValueError(
                f"{what} {out} holds files that are not an engram run (e.g. "
                f"{sorted(others)[0]!r}); a run replaces its whole folder. Choose a new or "
                "empty folder."
            )
        existing = existing.parent
    try:  # the only reliable test (permissions, read-only mounts, /sys, quotas) is to try
        os.rmdir(tempfile.mkdtemp(prefix=".engram-probe-", dir=existing))
    except OSError as exc:
        raise ValueError(
            f"{what} {out} cannot be written: making a folder in {existing} failed "
            f"({exc.strerror or exc}). Choose a folder you can write to."
        ) from None
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_partials(out: Path) -> list[Path]:
    """Remove the staging folders of ``out`` left by killed runs (their process is gone)."""
    removed = []
    parent = out.parent if str(out.parent) else Path(".")
    for candidate in parent.glob(glob.escape(f".{out.name}{PARTIAL}") + "*"):
        pid_text = candidate.name[len(f".{out.name}{PARTIAL}") :].partition("-")[0]
        if pid_text.isdigit() and not _alive(int(pid_text)) and candidate.is_dir():
            shutil.rmtree(candidate, ignore_errors=True)
            removed.append(candidate)
    return removed


def _earlier_name(out: Path) -> Path:
    stamp_from = next((out / m for m in RUN_MARKERS if (out / m).is_file()), out)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(stamp_from.stat().st_mtime))
    target = out.with_name(f"{out.name}{EARLIER}{stamp}")
    n = 2
    while os.path.lexists(target):
        target = out.with_name(f"{out.name}{EARLIER}{stamp}-{n}")
        n += 1
    return target


@dataclass
class Staged:
    """A folder being written by `staged_folder`: where to write, and what happened at the end.

    Attributes:
        path: the staging folder to write into (a hidden sibling of ``final``).
        final: where the folder is moved when the block ends without an error.
        earlier: where an earlier run found at ``final`` was moved, or None.
    """

    path: Path
    final: Path
    earlier: Path | None = None


@contextlib.contextmanager
def staged_folder(out: str | os.PathLike) -> Iterator[Staged]:
    """Write a whole folder elsewhere, then move it into place; nothing ever mixes two runs.

    The block writes into a hidden sibling ``.NAME.partial-PID-XXXX``. When it ends without an
    error that folder is renamed to ``out``. An earlier run already at ``out`` is first renamed
    to ``NAME.earlier-YYYYmmdd-HHMMSS`` (its time; kept, never overwritten, never mixed); an
    empty folder is just replaced. If the block raises (or is interrupted), the staging folder
    is removed and ``out`` is untouched. A process killed outright leaves its staging folder;
    the next `staged_folder` of the same ``out`` removes it. Ctrl-C is held back during the two
    renames, so it cannot fall between them.

    Example:
        >>> with staged_folder("runs/xor") as staged:  # doctest: +SKIP
        ...     (staged.path / "report.md").write_text("...")
        >>> staged.earlier  # doctest: +SKIP
        PosixPath('runs/xor.earlier-20260101-120000')
    """
    final = Path(out).expanduser()
    parent = final.parent if str(final.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(final)
    path = Path(tempfile.mkdtemp(prefix=f".{final.name}{PARTIAL}{os.getpid()}-", dir=parent))
    os.chmod(path, 0o777 & ~_umask())
    staged = Staged(path, final)
    try:
        yield staged
        _publish(staged)
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise


def _publish(staged: Staged) -> None:
    final = staged.final
    blocked = threading.current_thread() is threading.main_thread()
    if blocked:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        if final.is_dir() and not final.is_symlink() and not any(final.iterdir()):
            final.rmdir()
        elif os.path.lexists(final):
            staged.earlier = _earlier_name(final)
            os.rename(final, staged.earlier)
        os.rename(staged.path, final)
    finally:
        if blocked:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
