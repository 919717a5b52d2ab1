"""Keeping the service's folders of rendered edits and uploads within bounds.

A file's modification time is its last use: the service touches a render when it is fetched and an
upload when it is edited. :func:`prune` deletes files not used for longer than ``max_age_s``, then
the least recently used ones until the folder's files add up to at most ``max_bytes``. Pure file
operations; no Ray, no Serve.
"""

from __future__ import annotations

import os
import time
from pathlib import Path


def touch(path: str | Path) -> None:
    """Mark a file as used now (its modification time is its last use)."""
    try:
        os.utime(path)
    except FileNotFoundError:
        pass


def prune(folder: str | Path, *, max_bytes: float, max_age_s: float, now: float | None = None) -> list[Path]:
    """Delete stale and least recently used files in ``folder`` (not its subfolders or hidden files).

    Parameters
    ----------
    folder : str or Path
    max_bytes : float
        The files left add up to at most this many bytes.
    max_age_s : float
        Files not used for longer than this many seconds are deleted.
    now : float or None
        The current time (seconds since the epoch); None: ``time.time()``.

    Returns
    -------
    list of Path
        The deleted files, oldest use first.
    """
    now = time.time() if now is None else now
    files = []
    for p in Path(folder).iterdir() if Path(folder).is_dir() else []:
        try:
            if p.is_file() and not p.name.startswith("."):
                st = p.stat()
                files.append((st.st_mtime, st.st_size, p))
        except FileNotFoundError:  # deleted meanwhile by another replica
            continue
    files.sort()
    total = sum(size for _, size, _ in files)
    gone = []
    for used, size, p in files:
        if now - used <= max_age_s and total <= max_bytes:
            break
        p.unlink(missing_ok=True)
        total -= size
        gone.append(p)
    return gone
