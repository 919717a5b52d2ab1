"""A listener's own sense of the named moods — the mood-alignment head — fitted from their mood judgements.

People differ: one listener's "energetic" is another's "tense". A :class:`MoodHead` places each
named mood where a listener hears it in the arousal/valence plane. It is fitted by Bradley–Terry on
that listener's answers to "which of the two fits the mood better?": P(a fits better) =
σ(``sharpness`` · (d_b − d_a)), where d is an edit's mean distance, over its output time, between
the beats it plays (their estimated arousal and valence, :mod:`editor_rl.audio.mood`) and the
listener's point for the mood; a tie counts half each way. A prior pulls each point toward where
it was (``prior`` × squared distance: worth a few judgements), so a few judgements move it a
little and many move it as far as they say; moods nobody judged stay put. Best of N asked for a
named mood by this listener then aims at their point (:meth:`MoodHead.mood`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Mapping, NamedTuple, Sequence

import numpy as np
import torch

from editor_rl.audio.mood import NAMED_MOODS, Mood

PREFERENCE_TARGET = {"a": 1.0, "b": 0.0, "tie": 0.5}


class MoodJudgement(NamedTuple):
    """One answer to "which fits ``mood`` better?".

    Attributes
    ----------
    mood : str
        The named mood asked for.
    a, b : np.ndarray [shape=(k, 2)]
        (arousal, valence) of every beat each edit plays, in order.
    a_seconds, b_seconds : np.ndarray [shape=(k,)]
        Each of those beats' length, seconds (the mean is over time).
    preference : str
        ``"a"``, ``"b"`` or ``"tie"``.
    """

    mood: str
    a: np.ndarray
    a_seconds: np.ndarray
    b: np.ndarray
    b_seconds: np.ndarray
    preference: str


@dataclass(frozen=True)
class MoodHead:
    """Where one listener hears each named mood: ``points`` maps a name to (arousal, valence)."""

    points: Mapping[str, tuple[float, float]] = field(default_factory=lambda: dict(NAMED_MOODS))

    def mood(self, mood: Mood | None) -> Mood | None:
        """The listener's own version of a requested mood (a point asked for stays as it is)."""
        if mood is None or not mood.name or mood.name not in self.points:
            return mood
        a, v = self.points[mood.name]
        return Mood(mood.name, float(a), float(v))

    def to_json(self) -> str:
        return json.dumps({"points": {k: [round(float(x), 4) for x in p] for k, p in self.points.items()}}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> "MoodHead":
        return cls({k: (float(p[0]), float(p[1])) for k, p in json.loads(text)["points"].items()})


def _mean_distance(beats: torch.Tensor, seconds: torch.Tensor, point: torch.Tensor) -> torch.Tensor:
    return (torch.linalg.norm(beats - point, dim=1) * seconds).sum() / seconds.sum().clamp_min(1e-9)


def fit_mood_head(judgements: Sequence[MoodJudgement], *, base: MoodHead = MoodHead(), prior: float = 5.0, sharpness: float = 6.0,
                  steps: int = 300, lr: float = 0.05) -> MoodHead:
    """Fit a listener's mood points to their judgements (see the module docstring).

    Parameters
    ----------
    judgements : sequence of MoodJudgement
    base : MoodHead
        Where the points start and what the prior pulls toward (the named points, or an earlier fit).
    prior : float
        Weight of the squared distance from ``base`` (each judgement adds about one unit of log-loss).
    sharpness : float
        Bradley–Terry scale of a distance difference (distances are in [0, 2.83]).

    Returns
    -------
    MoodHead
        Points clipped to [-1, 1]².
    """
    by_mood: dict[str, list[MoodJudgement]] = {}
    for j in judgements:
        if j.mood in base.points and j.preference in PREFERENCE_TARGET:
            by_mood.setdefault(j.mood, []).append(j)
    points = dict(base.points)
    for name, js in by_mood.items():
        start = torch.tensor(base.points[name], dtype=torch.float64)
        p = start.clone().requires_grad_(True)
        opt = torch.optim.Adam([p], lr=lr)
        data = [(torch.as_tensor(j.a, dtype=torch.float64), torch.as_tensor(j.a_seconds, dtype=torch.float64),
                 torch.as_tensor(j.b, dtype=torch.float64), torch.as_tensor(j.b_seconds, dtype=torch.float64)) for j in js]
        y = torch.tensor([PREFERENCE_TARGET[j.preference] for j in js], dtype=torch.float64)
        for _ in range(steps):
            opt.zero_grad()
            logits = torch.stack([sharpness * (_mean_distance(b, bs, p) - _mean_distance(a, as_, p)) for a, as_, b, bs in data])
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="sum") + prior * ((p - start) ** 2).sum()
            loss.backward()
            opt.step()
            with torch.no_grad():
                p.clamp_(-1.0, 1.0)
        points[name] = (float(p[0]), float(p[1]))
    return MoodHead(points)


def mood_judgements(records: Sequence, analyses: Mapping[str, object]) -> list[MoodJudgement]:
    """The mood answers among preference records: those with a ``mood_preference`` on a pair asked
    for a named mood, whose song is among ``analyses`` (SongAnalysis by song id) and whose EDLs
    carry their beat orders."""
    out = []
    for r in records:
        mood, a = r.a.edl.get("mood") or {}, analyses.get(r.song_id)
        orders = [r.a.edl.get("beat_order") or [], r.b.edl.get("beat_order") or []]
        if r.mood_preference is None or not mood.get("name") or a is None or not all(orders) or max(max(o) for o in orders) >= a.n_beats:
            continue
        seconds = a.beat_ends_s - a.beats_s
        oa, ob = (np.asarray(o, dtype=np.int64) for o in orders)
        out.append(MoodJudgement(mood["name"], a.mood[oa], seconds[oa], a.mood[ob], seconds[ob], r.mood_preference))
    return out
