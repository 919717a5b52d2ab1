"""Dense rewards: pure functions of (song, edit), each component in [0, 1].

Four quality components judge the seams of an edit (a seam is where output beat ``i`` is
followed by source beat ``j != i + 1``), plus the edit's start and end:

- **tempo consistency** — the beat length on both sides of a seam agrees: a BPM change up to
  5 scores 1, falling linearly to 0 at 20;
- **energy flow** — no loudness jump at the seam beyond what the song itself does there: the bar
  before the seam (4 beats ending at ``i``) against the bar after it (4 beats from ``j``), less the
  change the song makes at ``i → i + 1`` and 1 dB of slack, costs 1/6 per dB (bar-level loudness,
  because single beats swing several dB between kick and snare);
- **phrase completeness** — seams leave at the end of a phrase (1.0) or bar (0.7) and land on a
  phrase (1.0) or bar (0.7) start, else 0; the edit starts at the song's start or a phrase start
  and ends at the song's own ending (1.0), or at a phrase end (0.8) or bar end (0.6) with a fade;
- **transition quality** — look-ahead similarity: what plays after the seam (``j``) against what
  would have played (``i + 1``), ``(1 + cos) / 2`` over standardised chroma and MFCC means;

and a **duration** term: 1 within 2 % of the target, falling linearly to 0 at 32 % off.
The total is ``(1 - w_duration) · Σ w_k c_k / Σ w_k + w_duration · duration`` (weights from
``RewardConfig``; the seeds' 25 % each for the four).

Per-step shaping uses the same pieces: ``potential(...)`` of a partial edit is the total as if it
ended now, and the shaped reward of a step is the change in potential, so shaped rewards sum to
the terminal reward exactly.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from editor_rl.audio.analysis import SongAnalysis
from editor_rl.audio.features import FEATURE_NAMES
from editor_rl.config import RewardConfig

COMPONENTS = ("tempo", "energy", "phrase", "transition", "duration")

_RMS = FEATURE_NAMES.index("rms_db_mean")
_CHROMA = slice(FEATURE_NAMES.index("chroma_mean_C"), FEATURE_NAMES.index("chroma_mean_B") + 1)
_MFCC = slice(FEATURE_NAMES.index("mfcc_mean_1"), FEATURE_NAMES.index("mfcc_mean_19") + 1)


class SongTables(NamedTuple):
    """Per-song arrays the dense rewards read (precomputed once per song).

    Attributes
    ----------
    bpm : np.ndarray [shape=(n,)]
        Local tempo of each beat, 60 / beat length.
    before_db : np.ndarray [shape=(n,)]
        Mean loudness of the 4 beats ending at each beat, dBFS.
    after_db : np.ndarray [shape=(n,)]
        Mean loudness of the 4 beats starting at each beat, dBFS.
    timbre : np.ndarray [shape=(n, 31)]
        Standardised chroma and MFCC means, rows scaled to unit length.
    bar_pos, phrase_pos : np.ndarray [shape=(n,)]
    boundary : np.ndarray [shape=(n,)]
        1.0 where a phrase starts, 0.7 where only a bar starts, else 0.
    """

    bpm: np.ndarray
    before_db: np.ndarray
    after_db: np.ndarray
    timbre: np.ndarray
    bar_pos: np.ndarray
    phrase_pos: np.ndarray
    boundary: np.ndarray

    @property
    def n_beats(self) -> int:
        """Number of beats."""
        return len(self.bpm)


class DenseComponents(NamedTuple):
    """The dense reward's components of one edit, each in [0, 1]."""

    tempo: float
    energy: float
    phrase: float
    transition: float
    duration: float


def song_tables(analysis: SongAnalysis) -> SongTables:
    """What the dense rewards need from a song's analysis, made once per analysis object
    (``analysis.derived``: the planner, the model input, the judges and the reports all read it)."""
    return analysis.derive("song_tables", lambda: _tables_of(analysis))


def _tables_of(analysis: SongAnalysis) -> SongTables:
    dur = analysis.beat_ends_s - analysis.beats_s
    rms = analysis.features[:, _RMS].astype(np.float64)
    tim = np.concatenate([analysis.features[:, _CHROMA], analysis.features[:, _MFCC]], axis=1).astype(np.float64)
    tim = (tim - tim.mean(axis=0)) / (tim.std(axis=0) + 1e-6)
    tim /= np.linalg.norm(tim, axis=1, keepdims=True) + 1e-9
    csum = np.concatenate([[0.0], np.cumsum(rms)])
    k = np.arange(len(rms))
    lo, hi = np.maximum(k - 3, 0), np.minimum(k + 4, len(rms))
    before = (csum[k + 1] - csum[lo]) / (k + 1 - lo)
    after = (csum[hi] - csum[k]) / (hi - k)
    return SongTables(bpm=60.0 / np.maximum(dur, 1e-3), before_db=before, after_db=after, timbre=tim,
                      bar_pos=analysis.bar_pos, phrase_pos=analysis.phrase_pos, boundary=_boundary(analysis.bar_pos, analysis.phrase_pos))


def _boundary(bar_pos: np.ndarray, phrase_pos: np.ndarray) -> np.ndarray:
    return np.where(phrase_pos == 0, 1.0, np.where(bar_pos == 0, 0.7, 0.0))


def on_grid(tables: SongTables, *, bar_pos: np.ndarray, phrase_pos: np.ndarray) -> SongTables:
    """``tables`` with another bar and phrase grid (0 where a bar / phrase starts), e.g. the one a
    listener hears in a song's truth file rather than the analysed one; the boundary scores follow it."""
    return tables._replace(bar_pos=bar_pos, phrase_pos=phrase_pos, boundary=_boundary(bar_pos, phrase_pos))


def seam_scores(t: SongTables, i, j) -> np.ndarray:
    """Tempo, energy, phrase and transition scores of seams from source beat ``i`` to ``j``.

    Parameters
    ----------
    t : SongTables
    i : int or np.ndarray of int
        Last beat played before each seam.
    j : int or np.ndarray of int (broadcastable with ``i``)
        First beat played after it (``j != i + 1``).

    Returns
    -------
    scores : np.ndarray [shape=broadcast(i, j).shape + (4,)]
        Columns: tempo, energy, phrase, transition; each in [0, 1].
    """
    i, j = np.asarray(i), np.asarray(j)
    n = t.n_beats
    has_next = i + 1 < n
    nxt = np.minimum(i + 1, n - 1)
    tempo = np.clip(1.0 - (np.abs(t.bpm[i] - t.bpm[j]) - 5.0) / 15.0, 0.0, 1.0)
    natural = np.where(has_next, np.abs(t.after_db[nxt] - t.before_db[i]), 0.0) + 1.0
    energy = np.clip(1.0 - np.maximum(0.0, np.abs(t.after_db[j] - t.before_db[i]) - natural) / 6.0, 0.0, 1.0)
    phrase = 0.5 * np.where(has_next, t.boundary[nxt], 1.0) + 0.5 * t.boundary[j]
    ref = np.where(has_next, nxt, i)
    transition = 0.5 * (1.0 + np.einsum("...d,...d->...", t.timbre[ref], t.timbre[j]))
    return np.stack(np.broadcast_arrays(tempo, energy, phrase, transition), axis=-1)


def start_score(t: SongTables, first: int) -> float:
    """Phrase score of where an edit starts: the song's start or a phrase start is 1."""
    return 1.0 if first == 0 or t.phrase_pos[first] == 0 or (t.bar_pos[:first] != 0).all() else (0.6 if t.bar_pos[first] == 0 else 0.2)


def end_score(t: SongTables, last: int) -> float:
    """Phrase score of where an edit ends: the song's own ending is 1, a phrase end 0.8, a bar end 0.6."""
    if last == t.n_beats - 1:
        return 1.0
    nxt = last + 1
    if t.phrase_pos[nxt] == 0:
        return 0.8
    return 0.6 if t.bar_pos[nxt] == 0 else 0.2


def duration_score(out_seconds: float, target_seconds: float) -> float:
    """1 within 2 % of the target, linearly down to 0 at 32 % off."""
    err = abs(out_seconds - target_seconds) / target_seconds
    return float(np.clip(1.0 - max(0.0, err - 0.02) / 0.3, 0.0, 1.0))


def seams_of(order: Sequence[int]) -> list[tuple[int, int]]:
    """(i, j) for each place the output jumps in the source."""
    return [(a, b) for a, b in zip(order[:-1], order[1:]) if b != a + 1]


def components(t: SongTables, order: Sequence[int], *, out_seconds: float, target_seconds: float) -> DenseComponents:
    """Dense components of a whole edit.

    Parameters
    ----------
    t : SongTables
    order : sequence of int
        Source beat played at each output beat.
    out_seconds : float
        The edit's length, seconds.
    target_seconds : float
        What the user asked for, seconds.
    """
    if len(order) == 0:
        return DenseComponents(0.0, 0.0, 0.0, 0.0, 0.0)
    seams = np.array(seams_of(order), dtype=np.int64).reshape(-1, 2)
    rows = seam_scores(t, seams[:, 0], seams[:, 1])
    phrase_terms = np.concatenate([rows[:, 2], [start_score(t, order[0]), end_score(t, order[-1])]])
    tempo, energy, _, transition = rows.mean(axis=0) if len(rows) else (1.0, 1.0, 1.0, 1.0)
    return DenseComponents(float(tempo), float(energy), float(phrase_terms.mean()), float(transition), duration_score(out_seconds, target_seconds))


def total(c: DenseComponents, weights: RewardConfig) -> float:
    """Weighted dense reward in [0, 1]."""
    w = np.array([weights.w_tempo, weights.w_energy, weights.w_phrase, weights.w_transition])
    quality = float(np.dot(w, c[:4]) / w.sum())
    return (1.0 - weights.w_duration) * quality + weights.w_duration * c.duration


class RunningDense:
    """Incremental dense reward of an edit that grows beat by beat (for per-step shaping).

    ``potential()`` equals ``total(components(...))`` of the edit so far, computed in O(1) per beat.
    """

    def __init__(self, tables: SongTables, *, target_seconds: float, weights: RewardConfig) -> None:
        self.t, self.target, self.w = tables, target_seconds, weights
        self.sums = np.zeros(4)
        self.n_seams = 0
        self.first = -1
        self.last = -1
        self.out_seconds = 0.0

    def add(self, beat: int, seconds: float) -> None:
        """Append one output beat (its source index and length)."""
        if self.first < 0:
            self.first = beat
        elif beat != self.last + 1:
            self.sums += seam_scores(self.t, self.last, beat)
            self.n_seams += 1
        self.last = beat
        self.out_seconds += seconds

    def components(self) -> DenseComponents:
        """Components of the edit so far."""
        if self.first < 0:
            return DenseComponents(0.0, 0.0, 0.0, 0.0, 0.0)
        mean = self.sums / self.n_seams if self.n_seams else np.ones(4)
        phrase = (self.sums[2] + start_score(self.t, self.first) + end_score(self.t, self.last)) / (self.n_seams + 2)
        return DenseComponents(float(mean[0]), float(mean[1]), float(phrase), float(mean[3]), duration_score(self.out_seconds, self.target))

    def potential(self) -> float:
        """The total as if the edit ended now (0 before anything is played)."""
        return total(self.components(), self.w) if self.first >= 0 else 0.0
