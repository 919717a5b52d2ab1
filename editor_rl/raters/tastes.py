"""The panel of simulated tastes: listeners who differ in kind, each a weighting of aspects of an edit.

A rater's *view* of a song (:func:`song_view`) is what it **hears**, never the analysis the model
learns from: the bar lines, phrases, sections and chorus of the song's truth file (synthetic songs),
or the reference annotations' bar lines of a recording (madmom's RNN + DBN, cached; see
:mod:`editor_rl.audio.reference`). Only a song with neither falls back to the analysis (its
``source`` says ``"analysis"``); a recording's sections and chorus come from the analysed structure,
since the reference finds none. Every aspect is in [0, 1]:

============  =========================================================================================
aspect        1 means
============  =========================================================================================
tight         the length asked for (falls linearly to 0 at 30 % off)
exact         exactly the length asked for (a Gaussian of the error, 3 % wide)
seams         clean joins: the dense reward's transition and energy components
phrase        whole phrases: the dense reward's phrase component on the heard bar and phrase grid
few_cuts      no cuts (exp(−cuts / 2))
on_bar        every cut leaves at a heard bar end and lands on a heard downbeat (exp(−cuts off it))
hook          the chorus kept (its share, up to what the edit can hold)
ending        the song's own ending (a fade at a heard phrase end 0.6, at a bar end 0.3)
opening       the song's own opening (a heard phrase start 0.5)
no_repeats    no material played twice, no jumps back
energy_arc    the song's loudness contour kept (its correlation with the edit's, mapped to [0, 1])
sections      something of every kind of section kept
chorus_whole  every chorus played whole or not at all (share of choruses that are), at least one whole
section_cuts  the edit starts, cuts and ends only at section boundaries (exp(−cuts inside a section))
final_bar     the edit ends with the song's own final bar, played through to the end
intro         the song's intro kept whole at the start (its share, in order)
============  =========================================================================================

The last four are *truth tastes'* aspects: they need the true sections (:data:`NEEDS_SECTIONS`), so
they judge synthetic songs; none is a descriptor of the reward model
(:mod:`editor_rl.rewards.descriptors`), nor a re-weighting of them.

Without a target (a judgement made with no length asked for), ``tight`` and ``exact`` measure the
length against the taste's preferred share of the song. A taste's utility is its weighted mean of
aspects; :class:`~editor_rl.raters.rater.SimulatedRater` turns two utilities into a noisy
judgement with ties and strengths.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, NamedTuple

import numpy as np

from editor_rl.audio.analysis import SongAnalysis
from editor_rl.audio.features import FEATURE_NAMES
from editor_rl.audio.reference import Heard, heard_song
from editor_rl.edit.plan import EditPlan
from editor_rl.rewards import dense
from editor_rl.rewards.sequence import order_of

ASPECTS = ("tight", "exact", "seams", "phrase", "few_cuts", "on_bar", "hook", "ending", "opening", "no_repeats", "energy_arc", "sections",
           "chorus_whole", "section_cuts", "final_bar", "intro")
NEEDS_SECTIONS = frozenset({"chorus_whole", "section_cuts", "final_bar", "intro"})
"""Aspects defined on a song's true sections: a taste weighting any of them judges truth-annotated songs only."""
HEARD_TOLERANCE_S = 0.07
"""An analysed beat is on a heard bar line (or phrase start) within this many seconds of it (mir_eval's window)."""
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

    @property
    def needs_sections(self) -> bool:
        """Whether it judges by true sections (truth-annotated songs only)."""
        return bool(NEEDS_SECTIONS & set(self.weights))


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
TRUTH_TASTES: dict[str, Taste] = {t.name: t for t in (
    Taste("chorus_whole", {"chorus_whole": 2.0, "tight": 0.6, "on_bar": 0.3}, about="a chorus whole or not at all, never half of one"),
    Taste("section_editor", {"section_cuts": 2.0, "tight": 0.8}, noise=0.04, about="never cut inside a section: whole sections only"),
    Taste("own_final_bar", {"final_bar": 1.5, "on_bar": 0.4, "tight": 0.6}, about="ends on the song's own final bar, never a fade"),
    Taste("keeps_intro", {"intro": 1.5, "tight": 0.6, "on_bar": 0.4}, about="the intro kept whole, the song starting as it starts"),
)}
"""Listeners outside the panel, defined on what a song's truth says (its sections, its final bar):
no pretraining mixture and no judge list of the project names them, so they are listeners the
service has never met (the regret benchmark's)."""
LISTENERS: dict[str, Taste] = PANEL | TRUTH_TASTES
"""Every taste a simulated rater can have."""


class SongView(NamedTuple):
    """What a rater hears of a song, per analysed beat.

    Attributes
    ----------
    tables : dense.SongTables
        The seams' audio (transition and energy components) on the heard bar and phrase grid.
    chorus : np.ndarray [shape=(n_beats,), dtype=bool]
    labels : np.ndarray [shape=(n_beats,), dtype=int64]
        Section kind of each beat.
    section : np.ndarray [shape=(n_beats,), dtype=int64]
        Index of the (true) section each beat lies in, -1 outside any (no sections: all 0).
    section_names : tuple of str
        Name of each section.
    source : str
        ``"truth"``, ``"reference"`` or ``"analysis"``.
    """

    tables: dense.SongTables
    chorus: np.ndarray
    labels: np.ndarray
    section: np.ndarray | None = None
    section_names: tuple = ()
    source: str = "analysis"

    @property
    def downbeat(self) -> np.ndarray:
        """[shape=(n_beats,), dtype=bool] The beat starts a heard bar."""
        return self.tables.bar_pos == 0

    @property
    def phrase_start(self) -> np.ndarray:
        """[shape=(n_beats,), dtype=bool] The beat starts a heard phrase."""
        return self.tables.phrase_pos == 0


def _on(beats_s: np.ndarray, marks_s: np.ndarray) -> np.ndarray:
    """Which beats lie within :data:`HEARD_TOLERANCE_S` of a mark."""
    if not len(marks_s):
        return np.zeros(len(beats_s), bool)
    k = np.clip(np.searchsorted(marks_s, beats_s), 1, len(marks_s) - 1) if len(marks_s) > 1 else np.zeros(len(beats_s), int)
    near = np.minimum(np.abs(beats_s - marks_s[k]), np.abs(beats_s - marks_s[np.maximum(k - 1, 0)]))
    return near <= HEARD_TOLERANCE_S


def heard_view(analysis: SongAnalysis, heard: Heard) -> SongView:
    """The view of a song heard through ``heard`` (truth or reference), on the analysis's beat grid."""
    beats = analysis.beats_s
    heard_bar = np.where(_on(beats, heard.downbeats_s), 0, 1)
    tables = dense.on_grid(dense.song_tables(analysis), bar_pos=heard_bar, phrase_pos=np.where(_on(beats, heard.phrase_starts_s), 0, 1))
    if not heard.sections:  # a reference: its bar lines, and the analysed structure for sections and chorus
        st = analysis.structure
        return SongView(tables, st.hook, st.label, np.zeros(len(beats), np.int64), (), heard.source)
    names = sorted({n for n, _, _ in heard.sections})
    labels = np.zeros(len(beats), np.int64)
    section = np.full(len(beats), -1, np.int64)
    for k, (name, start, end) in enumerate(heard.sections):
        inside = (beats >= start - 0.05) & (beats < end - 0.05)
        labels[inside] = names.index(name)
        section[inside] = k
    chorus = np.isin(section, [k for k, (n, _, _) in enumerate(heard.sections) if n == "chorus"])
    return SongView(tables, chorus, labels, section, tuple(n for n, _, _ in heard.sections), heard.source)


def song_view(analysis: SongAnalysis, *, references: str | Path | None = None) -> SongView:
    """A rater's view: what it hears (truth file, else cached reference annotations under
    ``references``); a song with neither falls back to the analysis (``source="analysis"``)."""
    heard = heard_song(analysis.path, references=references)
    if heard is not None:
        return heard_view(analysis, heard)
    st = analysis.structure
    return SongView(dense.song_tables(analysis), st.hook, st.label, np.zeros(analysis.n_beats, np.int64), (), "analysis")


def _contour(x: np.ndarray, points: int = 16) -> np.ndarray:
    return np.interp(np.linspace(0, len(x) - 1, points), np.arange(len(x)), x)


def _section_aspects(view: SongView, order: np.ndarray, played: np.ndarray) -> dict[str, float]:
    """The truth tastes' aspects (see the module docstring); 0 for a view without sections."""
    if not view.section_names:
        return dict.fromkeys(NEEDS_SECTIONS, 0.0)
    sec, n = view.section, len(view.section)
    starts = np.r_[True, sec[1:] != sec[:-1]]
    ends = np.r_[sec[1:] != sec[:-1], True]
    i, j = order[:-1], order[1:]
    jump = j != i + 1
    inside = int((jump & ~(ends[i] & starts[j])).sum()) + int(not starts[order[0]]) + int(not ends[order[-1]])
    choruses = [k for k, name in enumerate(view.section_names) if name == "chorus"]
    shares = [float(played[sec == k].mean()) for k in choruses if (sec == k).any()]
    whole = [x >= 0.999 or x == 0.0 for x in shares]
    chorus_whole = float(np.mean(whole)) * (1.0 if any(x >= 0.999 for x in shares) else 0.5) if shares else 1.0
    bar_starts = np.flatnonzero(view.downbeat)
    last_bar = int(bar_starts[-1]) if len(bar_starts) else n - 1
    tail = order[-(n - last_bar):]
    final_bar = 1.0 if len(order) >= n - last_bar and np.array_equal(tail, np.arange(last_bar, n)) else 0.0
    intros = [k for k, name in enumerate(view.section_names) if name == "intro"]
    intro = 1.0
    if intros:
        beats = np.flatnonzero(sec == intros[0])
        m = len(order) if len(order) < len(beats) else len(beats)
        prefix = int(np.argmin(np.r_[order[:m] == beats[:m], False]))  # how many of the intro's beats open the edit, in order
        intro = prefix / len(beats)
    return {"chorus_whole": chorus_whole, "section_cuts": float(np.exp(-inside)), "final_bar": final_bar, "intro": intro}


def aspects(view: SongView, analysis: SongAnalysis, plan: EditPlan, *, target_seconds: float | None, preferred_share: float = 0.6) -> dict[str, float]:
    """Every aspect of one edit, each in [0, 1] (see the module docstring)."""
    order = np.asarray(order_of(analysis, plan), dtype=np.int64)
    n = analysis.n_beats
    downbeat, phrase_start = view.downbeat, view.phrase_start
    want = target_seconds if target_seconds else preferred_share * analysis.duration_s
    err = abs(plan.duration_s - want) / want
    c = dense.components(view.tables, list(order), out_seconds=plan.duration_s, target_seconds=want)
    i, j = order[:-1], order[1:]
    jump = j != i + 1
    leaves_bar = (i + 1 >= n) | downbeat[np.minimum(i + 1, n - 1)]
    off_bar = int((jump & ~(leaves_bar & downbeat[j])).sum())
    played = np.zeros(n, bool)
    played[order] = True
    repeats = len(order) - int(played.sum())
    chorus = int(view.chorus.sum())
    last, first = int(order[-1]), int(order[0])
    if last == n - 1:
        ending = 1.0
    elif phrase_start[last + 1]:
        ending = 0.6
    elif downbeat[last + 1]:
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
        "opening": 1.0 if first == 0 else 0.5 if phrase_start[first] else 0.0,
        "no_repeats": max(0.0, 1.0 - 2.0 * repeats / len(order) - 0.2 * int((j <= i).sum())),
        "energy_arc": 0.5 * (1.0 + corr),
        "sections": len(np.unique(view.labels[played])) / len(np.unique(view.labels)),
    } | _section_aspects(view, order, played)
