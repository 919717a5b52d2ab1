"""The panel of simulated tastes: listeners who differ in kind, each a weighting of aspects of an edit.

A rater's *view* of a song (:func:`song_view`) is its sections and chorus: from the song's truth file
for synthetic songs (what their composer meant), else from the analysis's structure (what the song's
own repetition says). Every aspect is in [0, 1]:

===========  =========================================================================================
aspect       1 means
===========  =========================================================================================
tight        the length asked for (falls linearly to 0 at 30 % off)
exact        exactly the length asked for (a Gaussian of the error, 3 % wide)
seams        clean joins: the dense reward's transition and energy components
phrase       whole phrases: the dense reward's phrase component
few_cuts     no cuts (exp(−cuts / 2))
on_bar       every cut leaves at a bar end and lands on a downbeat (exp(−cuts off the bar line))
hook         the chorus kept (its share, up to what the edit can hold)
ending       the song's own ending (a fade at a phrase end 0.6, at a bar end 0.3)
opening      the song's own opening (a phrase start 0.5)
no_repeats   no material played twice, no jumps back
energy_arc   the song's loudness contour kept (its correlation with the edit's, mapped to [0, 1])
sections     something of every kind of section kept
===========  =========================================================================================

Without a target (a judgement made with no length asked for), ``tight`` and ``exact`` measure the
length against the taste's preferred share of the song. A taste's utility is its weighted mean of
aspects; :class:`~editor_rl.preferences.rater.SimulatedRater` turns two utilities into a noisy
judgement with ties and strengths.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping, NamedTuple

import numpy as np

from editor_rl.audio.analysis import SongAnalysis
from editor_rl.audio.features import FEATURE_NAMES
from editor_rl.edit.plan import EditPlan
from editor_rl.rewards import dense
from editor_rl.rewards.sequence import order_of

ASPECTS = ("tight", "exact", "seams", "phrase", "few_cuts", "on_bar", "hook", "ending", "opening", "no_repeats", "energy_arc", "sections")
_RMS = FEATURE_NAMES.index("rms_db_mean")


class Taste(NamedTuple):
    """One kind of listener.

    Attributes
    ----------
    name : str
    weights : mapping of aspect to weight
    noise : float
        Bradley–Terry temperature: P(a over b) = σ((u_a − u_b) / noise).
    tie_margin : float
        Utility differences below this are judged a tie.
    strength_steps : (float, float)
        |u_a − u_b| above the first gives strength 2, above the second strength 3.
    preferred_share : float
        Without a target, the share of the song this listener likes an edit to last.
    about : str
        In words.
    """

    name: str
    weights: Mapping[str, float]
    noise: float = 0.03
    tie_margin: float = 0.02
    strength_steps: tuple[float, float] = (0.08, 0.2)
    preferred_share: float = 0.6
    about: str = ""


PANEL: dict[str, Taste] = {t.name: t for t in (
    Taste("balanced", {"tight": 1.0, "seams": 1.0, "phrase": 0.6, "hook": 0.8}, about="the length, clean seams, whole phrases, the chorus"),
    Taste("few_cuts", {"few_cuts": 2.0, "tight": 0.6, "seams": 0.4}, noise=0.04, about="as few cuts as possible above all"),
    Taste("exact_length", {"exact": 2.0, "seams": 0.3, "phrase": 0.3}, noise=0.04, about="exactly the length asked for above all"),
    Taste("keeps_hook", {"hook": 2.0, "tight": 0.6, "seams": 0.4}, about="keep the chorus"),
    Taste("no_repeats", {"no_repeats": 1.5, "on_bar": 0.8, "tight": 0.6, "seams": 0.3}, noise=0.04, about="never the same material twice, no loops"),
    Taste("keeps_ending", {"ending": 1.5, "opening": 0.3, "tight": 0.6, "seams": 0.5}, about="the song's own ending (and opening)"),
    Taste("energy_arc", {"energy_arc": 1.5, "ending": 0.5, "tight": 0.6}, noise=0.04, about="the song's rise and fall of energy"),
    Taste("bar_lines", {"on_bar": 1.5, "few_cuts": 0.8, "tight": 0.8, "hook": 0.6}, about="cuts on bar lines, few of them, the length, the chorus"),
)}


class SongView(NamedTuple):
    """What a rater knows of a song: its dense tables, chorus mask and section label per beat."""

    tables: dense.SongTables
    chorus: np.ndarray
    labels: np.ndarray


def song_view(analysis: SongAnalysis) -> SongView:
    """A rater's view: the truth file's sections when the song has one (synthetic songs), else the
    analysis's structure (sections by repetition, its hook as the chorus)."""
    tables = dense.song_tables(analysis)
    truth = Path(analysis.path).with_suffix(".truth.json")
    if truth.is_file():
        sections = json.loads(truth.read_text()).get("sections", [])
        chorus = np.zeros(analysis.n_beats, bool)
        labels = np.zeros(analysis.n_beats, np.int64)
        names = sorted({s["name"] for s in sections})
        for s in sections:
            inside = (analysis.beats_s >= s["start_s"] - 0.05) & (analysis.beats_s < s["end_s"] - 0.05)
            labels[inside] = names.index(s["name"])
            chorus |= inside & (s["name"] == "chorus")
        if chorus.any():
            return SongView(tables, chorus, labels)
    st = analysis.structure
    return SongView(tables, st.hook, st.label)


def _contour(x: np.ndarray, points: int = 16) -> np.ndarray:
    return np.interp(np.linspace(0, len(x) - 1, points), np.arange(len(x)), x)


def aspects(view: SongView, analysis: SongAnalysis, plan: EditPlan, *, target_seconds: float | None, preferred_share: float = 0.6) -> dict[str, float]:
    """Every aspect of one edit, each in [0, 1] (see the module docstring)."""
    order = np.asarray(order_of(analysis, plan), dtype=np.int64)
    n = analysis.n_beats
    want = target_seconds if target_seconds else preferred_share * analysis.duration_s
    err = abs(plan.duration_s - want) / want
    c = dense.components(view.tables, list(order), out_seconds=plan.duration_s, target_seconds=want)
    i, j = order[:-1], order[1:]
    jump = j != i + 1
    leaves_bar = (i + 1 >= n) | (analysis.bar_pos[np.minimum(i + 1, n - 1)] == 0)
    off_bar = int((jump & ~(leaves_bar & (analysis.bar_pos[j] == 0))).sum())
    played = np.zeros(n, bool)
    played[order] = True
    repeats = len(order) - int(played.sum())
    chorus = int(view.chorus.sum())
    last, first = int(order[-1]), int(order[0])
    if last == n - 1:
        ending = 1.0
    elif analysis.phrase_pos[last + 1] == 0:
        ending = 0.6
    elif analysis.bar_pos[last + 1] == 0:
        ending = 0.3
    else:
        ending = 0.0
    loud = analysis.features[:, _RMS].astype(np.float64)
    a, b = _contour(loud[order]), _contour(loud)
    corr = float(np.corrcoef(a, b)[0, 1]) if a.std() > 1e-6 and b.std() > 1e-6 else 0.0
    return {
        "tight": max(0.0, 1.0 - err / 0.3),
        "exact": float(np.exp(-((err / 0.03) ** 2))),
        "seams": 0.5 * (c.transition + c.energy),
        "phrase": c.phrase,
        "few_cuts": float(np.exp(-int(jump.sum()) / 2.0)),
        "on_bar": float(np.exp(-off_bar)),
        "hook": min(1.0, int(view.chorus[played].sum()) / max(1, min(chorus, len(order)))) if chorus else 1.0,
        "ending": ending,
        "opening": 1.0 if first == 0 else 0.5 if analysis.phrase_pos[first] == 0 else 0.0,
        "no_repeats": max(0.0, 1.0 - 2.0 * repeats / len(order) - 0.2 * int((j <= i).sum())),
        "energy_arc": 0.5 * (1.0 + corr),
        "sections": len(np.unique(view.labels[played])) / len(np.unique(view.labels)),
    }
