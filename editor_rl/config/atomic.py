"""Writing a file atomically: a reader sees the old file or the new one, never half of one.

The text goes to a temporary name beside the target, unique to the writer (several replicas or
processes may write the same file), and is renamed over it. The one place every layer writes
its small text files (configs, manifests, run records, render recipes) through.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path


def write_text_atomic(path: str | Path, text: str, *, mode: int | None = None) -> Path:
    """Write ``text`` to ``path`` atomically; its folder is created.

    Parameters
    ----------
    path : str or Path
    text : str
        UTF-8 text.
    mode : int or None
        File permissions (e.g. ``0o600`` for a file holding a secret), set before any byte is
        written; None: the process's default.

    Returns
    -------
    Path
        The written file.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666 if mode is None else mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, p)
    return p
