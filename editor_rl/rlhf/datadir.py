"""A service's data folder: where ``editor-rl serve``, ``cycle`` and ``raters`` find each other's things.

``<data>/`` holds ``token`` (the admin token), ``service.json`` (the preference store the service was
started with — a PostgreSQL URL, or empty for SQLite — and its songs folder), ``preferences.sqlite``, ``features/``,
``uploads/``, ``renders/``, ``candidates/`` and the model registry ``models/``
(:mod:`editor_rl.rlhf.registry`).
"""

from __future__ import annotations

import json
from pathlib import Path

from editor_rl.config.atomic import write_text_atomic


def _info(data_dir: str | Path) -> dict:
    info = Path(data_dir) / "service.json"
    return json.loads(info.read_text()) if info.is_file() else {}


def store_location(data_dir: str | Path) -> str:
    """The preference store of the service using ``data_dir``: the URL it was started with, else its SQLite file."""
    return _info(data_dir).get("store", "") or str(Path(data_dir) / "preferences.sqlite")


def service_songs(data_dir: str | Path) -> str:
    """The songs folder the service was started with ("" if none)."""
    return _info(data_dir).get("songs", "")


def record_service(data_dir: str | Path, *, store: str, songs: str = "") -> Path:
    """Note the store and songs a service uses (mode 0600: a URL may carry a password; prefer PGPASSWORD)."""
    return write_text_atomic(Path(data_dir) / "service.json", json.dumps({"store": store, "songs": songs}), mode=0o600)
