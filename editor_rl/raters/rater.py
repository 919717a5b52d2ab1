"""Simulated raters: one taste of the panel (:mod:`editor_rl.raters.tastes`), reported noisily.

A rater is a taste and a seed — two raters of one taste are two people who like the same things and
disagree exactly as much as the noise says. It judges what it hears (truth files, reference
annotations under ``references``; :func:`~editor_rl.raters.tastes.song_view`), not the
analysis the model learns from. Judging a pair: if ``|u_a − u_b| < tie_margin`` it is a
tie; otherwise a is preferred with probability ``σ((u_a − u_b) / noise)``, with a strength that grows
with ``|u_a − u_b|``.

:func:`panel` makes the raters a config names; a name outside the panel is a
:class:`~editor_rl.errors.ConfigError`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np

from editor_rl.audio.analysis import SongAnalysis
from editor_rl.edit.plan import EditPlan
from editor_rl.errors import ConfigError, EditorRLError
from editor_rl.raters.tastes import LISTENERS, SongView, Taste, aspects, song_view


class Judgement(NamedTuple):
    """A rater's answer: ``preference`` ('a' | 'b' | 'tie') and ``strength`` (1–3)."""

    preference: str
    strength: int

    @property
    def for_a(self) -> float:
        """What this judgement gives edit a in a win rate: 1 a win, 0.5 a tie, 0 a loss."""
        return {"a": 1.0, "tie": 0.5, "b": 0.0}[self.preference]


def taste(name: str) -> Taste:
    """The taste called ``name`` (the panel's or a truth taste).

    Raises
    ------
    ConfigError
        No such taste.
    """
    if name not in LISTENERS:
        raise ConfigError(f"taste {name!r} is not in the panel; choose from {', '.join(LISTENERS)}")
    return LISTENERS[name]


class SimulatedRater:
    """One simulated person: a taste and a seed (see the module docstring).

    Parameters
    ----------
    taste : Taste or str
        The taste, or its name in the panel.
    seed : int
    rater_id : str or None
        Default ``<taste>-<seed>``.
    references : str or Path or None
        Cached reference annotations of recordings (e.g. ``.cache/madmom``); synthetic songs are
        heard through their truth files.
    """

    def __init__(self, taste_: Taste | str = "balanced", *, seed: int = 0, rater_id: str | None = None, references: str | Path | None = None) -> None:
        self.taste = taste(taste_) if isinstance(taste_, str) else taste_
        self.seed = seed
        self.references = references
        self.rater_id = rater_id or f"{self.taste.name}-{seed}"
        self.rng = np.random.default_rng([seed, int(hashlib.sha256(self.taste.name.encode()).hexdigest()[:8], 16)])
        self._views: dict[str, SongView] = {}

    def view(self, analysis: SongAnalysis) -> SongView:
        """This rater's view of a song (computed once per song).

        Raises
        ------
        EditorRLError
            The taste judges by true sections and the song has none (no truth file).
        """
        key = f"{analysis.content_hash}:{analysis.path}"
        if key not in self._views:
            view = song_view(analysis, references=self.references)
            if self.taste.needs_sections and not view.section_names:
                raise EditorRLError(f"taste {self.taste.name!r} judges by a song's true sections; {analysis.song_id} has no truth file")
            self._views[key] = view
        return self._views[key]

    def aspects(self, analysis: SongAnalysis, plan: EditPlan, *, target_seconds: float | None) -> dict[str, float]:
        """Every aspect of an edit, each in [0, 1]."""
        return aspects(self.view(analysis), analysis, plan, target_seconds=target_seconds, preferred_share=self.taste.preferred_share)

    def utility(self, analysis: SongAnalysis, plan: EditPlan, *, target_seconds: float | None) -> float:
        """The taste's weighted mean of aspects, in [0, 1]."""
        a = self.aspects(analysis, plan, target_seconds=target_seconds)
        w = self.taste.weights
        return sum(w[k] * a[k] for k in w) / max(sum(w.values()), 1e-9)

    def judge_utilities(self, u_a: float, u_b: float) -> Judgement:
        """Judge two utilities (noisy Bradley–Terry with ties and strength)."""
        t = self.taste
        d = u_a - u_b
        if abs(d) < t.tie_margin:
            return Judgement("tie", 1)
        pref = "a" if self.rng.random() < self.expected(u_a, u_b) else "b"
        return Judgement(pref, 1 + int(abs(d) >= t.strength_steps[0]) + int(abs(d) >= t.strength_steps[1]))

    def expected(self, u_a: float, u_b: float) -> float:
        """The expected value of :meth:`judge_utilities`' ``for_a`` (a win 1, a tie ½): ½ within the
        tie margin, else σ((u_a − u_b) / noise) — a judgement without the draw, for benchmarks that
        want exact win rates."""
        d = u_a - u_b
        return 0.5 if abs(d) < self.taste.tie_margin else float(1.0 / (1.0 + np.exp(-d / self.taste.noise)))

    def judge(self, analysis: SongAnalysis, a: EditPlan, b: EditPlan, *, target_seconds: float | None) -> Judgement:
        """Which of two edits of ``analysis`` the rater prefers."""
        return self.judge_utilities(self.utility(analysis, a, target_seconds=target_seconds), self.utility(analysis, b, target_seconds=target_seconds))


def panel(names: Sequence[str], *, seed: int, references: str | Path | None = None) -> list[SimulatedRater]:
    """One rater per named taste, each with its own seed derived from ``seed``, hearing recordings
    through the reference annotations cached under ``references`` (where a song has them).

    Raises
    ------
    ConfigError
        A name is not in the panel.
    """
    return [SimulatedRater(name, seed=seed * 1000 + k, references=references) for k, name in enumerate(names)]
