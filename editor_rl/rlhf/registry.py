"""The model registry of a service's data folder: every promoted version, and which one is served.

Layout under ``<data>/models/``::

    v001/  policy/ (an RLModule checkpoint ``editor-rl edit --checkpoint`` accepts) · reward.pt ·
           mood_head.json (where its listeners hear each named mood; absent: the named points) ·
           model.json (what made it: parent version, rater, the last judgement it learned from) ·
           report.md / report.json / report.png (the cycle's report; none for v001) ·
           verdict.json (its verification round: pending / promoted / retired, the rule, the
           judgements so far; none for v001, served from the start)
    v002/  …
    current              the version served to everyone, e.g. "v002"
    current@<rater>      a rater's own promoted version (a personal policy), if any

A pointer is written to a temporary file and renamed into place, so a reader sees the old version
or the new one, never half of it. :meth:`ModelRegistry.check` refuses a corrupt version folder by
name. The Serve deployments watch ``current`` and load a new version within seconds.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import NamedTuple

from editor_rl.errors import EditorRLError

VERSION = re.compile(r"v\d{3,}")


class ModelVersion(NamedTuple):
    """One promoted (or kept) version.

    Attributes
    ----------
    name : str
        ``vNNN``.
    path : Path
    policy : Path
        The RLModule checkpoint.
    reward : Path
        The reward checkpoint.
    meta : dict
        ``model.json``: parent, rater, used_through (judgement id), created, promoted.
    """

    name: str
    path: Path
    policy: Path
    reward: Path
    meta: dict

    @property
    def mood_head(self) -> Path:
        """Its mood head (``mood_head.json``; may be absent: the named points)."""
        return self.path / "mood_head.json"


class ModelRegistry:
    """The registry in ``<data_dir>/models`` (see the module docstring).

    Parameters
    ----------
    data_dir : str or Path
        The service's data folder.
    """

    def __init__(self, data_dir: str | Path) -> None:
        self.root = Path(data_dir) / "models"

    def _pointer(self, rater: str | None) -> Path:
        return self.root / ("current" if not rater else f"current@{rater}")

    def versions(self) -> list[str]:
        """Every version folder's name, oldest first."""
        return sorted((p.name for p in self.root.iterdir() if p.is_dir() and VERSION.fullmatch(p.name)), key=lambda n: int(n[1:])) if self.root.is_dir() else []

    def next_name(self) -> str:
        """The name the next version gets."""
        v = self.versions()
        return f"v{int(v[-1][1:]) + 1:03d}" if v else "v001"

    def get(self, name: str) -> ModelVersion:
        """A version by name, checked (see :meth:`check`)."""
        return self.check(name)

    def check(self, name: str) -> ModelVersion:
        """The version called ``name`` if its folder is whole.

        Raises
        ------
        EditorRLError
            No such version, or its policy, reward model or model.json is missing or unreadable.
        """
        from editor_rl.rewards.model import load_scorer
        from editor_rl.policy.load import policy_identity

        path = self.root / name
        if not VERSION.fullmatch(name) or not path.is_dir():
            raise EditorRLError(f"model version {name!r} does not exist in {self.root}")
        try:
            meta = json.loads((path / "model.json").read_text())
            policy_identity(path / "policy")
            load_scorer(path / "reward.pt")
        except (OSError, ValueError, EditorRLError) as e:
            raise EditorRLError(f"model version {name} in {self.root} is corrupt: {e}") from None
        return ModelVersion(name, path, path / "policy", path / "reward.pt", meta)

    def current_name(self, *, rater: str | None = None) -> str | None:
        """The name of the version served (to ``rater``: their own if they have one, else everyone's),
        or None; only the pointer is read."""
        for p in ([self._pointer(rater)] if rater else []) + [self._pointer(None)]:
            try:
                return p.read_text().strip()
            except FileNotFoundError:
                continue
        return None

    def current(self, *, rater: str | None = None) -> ModelVersion | None:
        """The version served (to ``rater``: their own if they have one, else everyone's), checked; or None."""
        name = self.current_name(rater=rater)
        return self.get(name) if name else None

    def add(self, *, policy: str | Path, reward: str | Path, meta: dict, name: str | None = None, mood_head: str | Path | None = None) -> ModelVersion:
        """Copy a policy checkpoint, a reward model and a mood head (if any) in as a new version (not promoted yet)."""
        from editor_rl.policy.load import MODULE_SUBDIR

        name = name or self.next_name()
        final = self.root / name
        tmp = self.root / f".{name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        src = Path(policy)
        shutil.copytree(src / MODULE_SUBDIR if (src / MODULE_SUBDIR).is_dir() else src, tmp / "policy")
        shutil.copy(reward, tmp / "reward.pt")
        if mood_head is not None:
            shutil.copy(mood_head, tmp / "mood_head.json")
        (tmp / "model.json").write_text(json.dumps({"created": time.time(), **meta}, indent=1))
        self.root.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, final)
        return self.check(name)

    def promote(self, name: str, *, rater: str | None = None) -> None:
        """Make ``name`` the version served (to ``rater`` only, when given)."""
        self.check(name)
        pointer = self._pointer(rater)
        tmp = pointer.with_name(f".{pointer.name}.tmp")
        tmp.write_text(name + "\n")
        os.replace(tmp, pointer)

    def verdict(self, name: str) -> dict | None:
        """Version ``name``'s verification verdict (``verdict.json``), or None (never verified)."""
        try:
            return json.loads((self.root / name / "verdict.json").read_text())
        except (OSError, ValueError):
            return None

    def set_verdict(self, name: str, verdict: dict) -> None:
        """Write version ``name``'s verdict (atomically)."""
        path = self.root / name / "verdict.json"
        tmp = path.with_name(f".verdict.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(verdict, indent=1))
        os.replace(tmp, path)

    def pending(self, *, rater: str | None = None) -> list[str]:
        """Versions awaiting verification (of ``rater``'s line, or everyone's), oldest first."""
        return [n for n in self.versions() if (v := self.verdict(n)) and v["status"] == "pending" and v.get("rater") == rater]

    def listing(self) -> dict:
        """``{"current": name, "personal": {rater: name}, "versions": [{name, status, verdict, meta}]}`` for
        ``GET /api/models``; a version's ``status`` is ``served`` (to everyone or a rater), ``pending``
        (awaiting its verification round), ``retired`` (its round failed) or ``superseded``."""
        personal = {p.name.split("@", 1)[1]: p.read_text().strip() for p in self.root.glob("current@*")} if self.root.is_dir() else {}
        current = self._pointer(None).read_text().strip() if self._pointer(None).is_file() else None
        rows = []
        for n in self.versions():
            try:
                meta = json.loads((self.root / n / "model.json").read_text())
            except (OSError, ValueError):
                meta = {"corrupt": True}
            verdict = self.verdict(n)
            status = "served" if n == current or n in personal.values() else verdict["status"] if verdict and verdict["status"] != "promoted" else "superseded"
            rows.append({"name": n, "status": status, "verdict": verdict,
                         **{k: meta.get(k) for k in ("created", "parent", "rater", "used_through", "corrupt")}})
        return {"current": current, "personal": personal, "versions": rows}
