"""Field checks shared by the config sections."""

from __future__ import annotations

from typing import Any

from editor_rl.errors import ConfigError


def check(cond: bool, name: str, value: Any, what: str) -> None:
    """Raise :class:`~editor_rl.errors.ConfigError` naming the field and its value unless ``cond``."""
    if not cond:
        raise ConfigError(f"{name}={value!r}: {what}")
