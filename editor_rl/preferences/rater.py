"""Simulated raters: a taste over edits, reported through a noisy Bradley–Terry model.

A rater's utility of an edit is a weighted sum of four things it cares about, each in [0, 1]:

- **tight**: close to the requested length (``1 − |out − target| / target``, floored at 0);
- **seams**: clean joins (mean of the dense reward's transition and energy components);
- **phrase**: whole phrases (the dense phrase component);
- **chorus**: keeps the chorus (share of the chorus beats, up to what fits in the edit, that it
  plays; the chorus comes from ``<song>.truth.json`` when there is one, else the loudest quarter
  of the song's bars).

Judging a pair: if ``|u_a − u_b| < tie_margin`` it is a tie; otherwise a draws over b with
probability ``σ((u_a − u_b) / noise)``; the strength grows with ``|u_a − u_b|``. Two raters with the
same taste and different seeds disagree exactly as much as the noise says.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import numpy as np

from editor_rl.audio.analysis import SongAnalysis
from editor_rl.config import RaterConfig
from editor_rl.edit.plan import EditPlan
from editor_rl.rewards import dense
from editor_rl.rewards.sequence import order_of


class Judgement(NamedTuple):
    """A rater's answer: ``preference`` ('a' | 'b' | 'tie') and ``strength`` (1–3)."""

    preference: str
    strength: int


def chorus_mask(analysis: SongAnalysis) -> np.ndarray:
    """Boolean [shape=(n_beats,)]: beats in a chorus (from the truth file, else the loudest bars)."""
    truth = Path(analysis.path).with_suffix(".truth.json")
    if truth.is_file():
        sections = json.loads(truth.read_text()).get("sections", [])
        mask = np.zeros(analysis.n_beats, bool)
        for s in sections:
            if s["name"] == "chorus":
                mask |= (analysis.beats_s >= s["start_s"] - 0.05) & (analysis.beats_s < s["end_s"] - 0.05)
        if mask.any():
            return mask
    loud = dense.song_tables(analysis).after_db
    return loud >= np.quantile(loud, 0.75)


class SimulatedRater:
    """A rater with a taste (see module docstring).

    Parameters
    ----------
    config : RaterConfig
    rater_id : str
    """

    def __init__(self, config: RaterConfig = RaterConfig(), *, rater_id: str = "sim-0") -> None:
        self.config = config
        self.rater_id = rater_id
        self.rng = np.random.default_rng(config.seed)
        self._chorus: dict[str, np.ndarray] = {}
        self._tables: dict[str, dense.SongTables] = {}

    def aspects(self, analysis: SongAnalysis, plan: EditPlan, *, target_seconds: float) -> dict[str, float]:
        """The four things the rater cares about, each in [0, 1]."""
        key = analysis.content_hash or analysis.path
        if key not in self._tables:
            self._tables[key] = dense.song_tables(analysis)
            self._chorus[key] = chorus_mask(analysis)
        t, chorus = self._tables[key], self._chorus[key]
        order = order_of(analysis, plan)
        c = dense.components(t, order, out_seconds=plan.duration_s, target_seconds=target_seconds)
        n_chorus = int(chorus.sum())
        kept = int(chorus[np.unique(order)].sum())
        return {
            "tight": max(0.0, 1.0 - abs(plan.duration_s - target_seconds) / target_seconds),
            "seams": 0.5 * (c.transition + c.energy),
            "phrase": c.phrase,
            "chorus": kept / max(1, min(n_chorus, len(order))) if n_chorus else 1.0,
        }

    def utility(self, analysis: SongAnalysis, plan: EditPlan, *, target_seconds: float) -> float:
        """Weighted utility, normalised by the sum of weights (so in [0, 1])."""
        c = self.config
        a = self.aspects(analysis, plan, target_seconds=target_seconds)
        w = {"tight": c.w_tight, "seams": c.w_seams, "phrase": c.w_phrase, "chorus": c.w_chorus}
        return sum(w[k] * a[k] for k in w) / max(sum(w.values()), 1e-9)

    def judge_utilities(self, u_a: float, u_b: float) -> Judgement:
        """Judge two utilities (noisy Bradley–Terry with ties and strength)."""
        c = self.config
        d = u_a - u_b
        if abs(d) < c.tie_margin:
            return Judgement("tie", 1)
        p_a = 1.0 / (1.0 + np.exp(-d / c.noise))
        pref = "a" if self.rng.random() < p_a else "b"
        strength = 1 + int(abs(d) >= c.strength_steps[0]) + int(abs(d) >= c.strength_steps[1])
        return Judgement(pref, strength)

    def judge(self, analysis: SongAnalysis, a: EditPlan, b: EditPlan, *, target_seconds: float) -> Judgement:
        """Which of two edits of ``analysis`` the rater prefers."""
        return self.judge_utilities(self.utility(analysis, a, target_seconds=target_seconds), self.utility(analysis, b, target_seconds=target_seconds))
