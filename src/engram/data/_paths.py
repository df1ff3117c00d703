"""Where engram looks for dataset files on disk, in one place.

Search order for a dataset called ``name`` (e.g. ``"mnist"``):

1. ``data_dir/name`` then ``data_dir``, when ``data_dir=`` is given (``--data-dir`` on the CLI);
   the loaders then search only these two (a folder named explicitly is used or refused,
   never replaced by the folders below or a download);
2. ``$ENGRAM_DATA_DIR/name`` then ``$ENGRAM_DATA_DIR``, when the variable is set;
3. the user cache ``$XDG_CACHE_HOME/engram/name`` (default ``~/.cache/engram/name``), which is
   also where downloads go;
4. system folders the dataset names, e.g. ``/usr/share/datasets/fashion-mnist`` from the
   Debian package ``dataset-fashion-mnist``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

ENV_DATA_DIR = "ENGRAM_DATA_DIR"


def cache_dir(name: str) -> Path:
    """The user cache folder for dataset ``name``: ``$XDG_CACHE_HOME/engram/<name>``.

    ``XDG_CACHE_HOME`` is used only when it is an absolute path, as the XDG specification says;
    otherwise ``~/.cache``.
    """
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "engram" / name


def candidate_dirs(
    name: str, data_dir: str | os.PathLike[str] | None = None, system_dirs: Iterable[str] = ()
) -> list[Path]:
    """The folders to search for dataset ``name``, first match wins, without duplicates.

    Args:
        name: the dataset's folder name, e.g. ``"fashion-mnist"``.
        data_dir: an explicit folder (searched first, as ``data_dir/name`` then ``data_dir``).
        system_dirs: folders searched last, e.g. where a system package installs the files.

    Returns:
        Absolute-or-as-given paths in search order. They need not exist.
    """
    roots: list[Path] = []
    if data_dir is not None:
        roots.append(Path(data_dir).expanduser())
    env = os.environ.get(ENV_DATA_DIR, "")
    if env:
        roots.append(Path(env).expanduser())
    dirs: list[Path] = []
    for root in roots:
        dirs += [root / name, root]
    dirs.append(cache_dir(name))
    dirs += [Path(d) for d in system_dirs]
    unique: list[Path] = []
    for directory in dirs:
        if directory not in unique:
            unique.append(directory)
    return unique
