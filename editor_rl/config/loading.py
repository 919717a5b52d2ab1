"""Loading a :class:`~editor_rl.config.sections.Config` from YAML and ``--set`` overrides.

A config file is a YAML mapping of sections; each section maps onto one frozen dataclass. Any field
can be overridden from the command line with ``--set section.field=value`` (the value is parsed as
YAML, so ``--set render.crossfade_ms=30`` gives an int). Unknown sections or fields, and values of
the wrong type or range, raise :class:`~editor_rl.errors.ConfigError` naming the field.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import fields
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from editor_rl.config.atomic import write_text_atomic
from editor_rl.config.sections import Config
from editor_rl.errors import ConfigError


def _coerce(value: Any, tp: Any, name: str) -> Any:
    """Check ``value`` against the annotation ``tp`` (only the types configs use)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], name)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name}={value!r}: expected a list")
        (item_tp, *_) = typing.get_args(tp)
        return tuple(_coerce(v, item_tp, f"{name}[{i}]") for i, v in enumerate(value))
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name}={value!r}: expected true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name}={value!r}: expected an integer")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                raise ConfigError(f"{name}={value!r}: expected a number") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name}={value!r}: expected a number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{name}={value!r}: expected a string")
        return value
    raise ConfigError(f"{name}: unsupported config type {tp!r}")


def _build(cls: type, data: Mapping[str, Any], prefix: str) -> Any:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{prefix}={data!r}: expected a mapping")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{prefix}.{unknown[0]}: unknown field (known: {', '.join(sorted(known))})".lstrip("."))
    kwargs = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        name = f"{prefix}.{f.name}".lstrip(".")
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            kwargs[f.name] = _build(tp, data[f.name] or {}, name)
        else:
            kwargs[f.name] = _coerce(data[f.name], tp, name)
    return cls(**kwargs)


def _apply_override(data: dict[str, Any], override: str) -> None:
    key, sep, raw = override.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {override!r}: expected section.field=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {override!r}: value is not valid YAML ({exc.__class__.__name__})") from None
    parts = key.strip().split(".")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"--set {override!r}: {part!r} is not a section")
        node = child
    node[parts[-1]] = value


def config_data(path: str | Path | None = None, *, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """The raw nested mapping a YAML file and ``--set`` overrides give (only what they name).

    Raises
    ------
    ConfigError
        The file is missing or not YAML, or an override is malformed.
    """
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file {str(p)!r} does not exist")
        try:
            loaded = yaml.safe_load(p.read_text())
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {str(p)!r} is not valid YAML: {exc}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"config file {str(p)!r}: expected a mapping of sections, got {type(loaded).__name__}")
        data = loaded or {}
    for override in overrides:
        _apply_override(data, override)
    return data


def build_config(data: Mapping[str, Any]) -> Config:
    """A checked :class:`Config` from a nested mapping of sections (missing fields take their defaults).

    Raises
    ------
    ConfigError
        A field is unknown, mistyped or out of range.
    """
    return _build(Config, data, "")


def load_config(path: str | Path | None = None, *, overrides: Sequence[str] = ()) -> Config:
    """Load a :class:`Config` from a YAML file (or the embedded default) plus overrides.

    Parameters
    ----------
    path : str or Path or None
        YAML file of sections; None means the embedded default (the dataclass defaults).
    overrides : sequence of str
        ``section.field=value`` strings applied after the file, in order.

    Returns
    -------
    Config

    Raises
    ------
    ConfigError
        The file is missing or not YAML, or a field is unknown, mistyped or out of range.
    """
    return build_config(config_data(path, overrides=overrides))


def save_config(config: Config, path: str | Path) -> Path:
    """Write ``config`` as a YAML config file (atomically) that :func:`load_config` reads back equal."""
    return write_text_atomic(path, yaml.safe_dump(config.to_dict(), sort_keys=False))


def config_diff(a: Config, b: Config) -> list[tuple[str, Any, Any]]:
    """Fields whose values differ between two configs: ``(section.field, a's value, b's value)``."""
    out = []
    for name, section in a.to_dict().items():
        other = b.to_dict()[name]
        out += [(f"{name}.{k}", v, other[k]) for k, v in section.items() if other[k] != v]
    return out
