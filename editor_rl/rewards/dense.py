"""Dense rewards: pure functions of (song, edit), each component in [0, 1].

Four quality components judge the seams of an edit (a seam is where output beat ``i`` is
followed by source beat ``j != i + 1``), plus the edit's start and end:

- **tempo consistency** — the beat length on both sides of a seam agrees: a BPM change up to
  5 scores 1, falling linearly to 0 at 20;
- **energy flow** — no loudness jump beyond what the song itself does from beat to beat: the
  excess (dB) over the natural change costs 1/12 per dB;
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
    rms_db : np.ndarray [shape=(n,)]
        Mean loudness of each beat, dBFS.
    natural_db : float
        Median loudness change between consecutive beats of the song, dB.
    timbre : np.ndarray [shape=(n, 31)]
        Standardised chroma and MFCC means, rows scaled to unit length.
    bar_pos, phrase_pos : np.ndarray [shape=(n,)]
    """

    bpm: np.ndarray
    rms_db: np.ndarray
    natural_db: float
    timbre: np.ndarray
    bar_pos: np.ndarray
    phrase_pos: np.ndarray

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
    """Precompute what the dense rewards need from a song's analysis."""
    dur = analysis.beat_ends_s - analysis.beats_s
    rms = analysis.features[:, _RMS].astype(np.float64)
    tim = np.concatenate([analysis.features[:, _CHROMA], analysis.features[:, _MFCC]], axis=1).astype(np.float64)
    tim = (tim - tim.mean(axis=0)) / (tim.std(axis=0) + 1e-6)
    tim /= np.linalg.norm(tim, axis=1, keepdims=True) + 1e-9
    natural = float(np.median(np.abs(np.diff(rms)))) if len(rms) > 1 else 0.0
    return SongTables(bpm=60.0 / np.maximum(dur, 1e-3), rms_db=rms, natural_db=natural, timbre=tim,
                      bar_pos=analysis.bar_pos, phrase_pos=analysis.phrase_pos)


def _boundary(t: SongTables, k: int) -> float:
    """1.0 if beat ``k`` starts a phrase, 0.7 a bar, else 0."""
    if t.phrase_pos[k] == 0:
        return 1.0
    return 0.7 if t.bar_pos[k] == 0 else 0.0


def seam_scores(t: SongTables, i: int, j: int) -> tuple[float, float, float, float]:
    """Tempo, energy, phrase and transition scores of a seam from source beat ``i`` to ``j``.

    Parameters
    ----------
    t : SongTables
    i : int
        Last beat played before the seam.
    j : int
        First beat played after it (``j != i + 1``).
    """
    nxt = i + 1 if i + 1 < t.n_beats else None
    d_bpm = abs(t.bpm[i] - t.bpm[j])
    tempo = 1.0 if d_bpm <= 5 else max(0.0, 1.0 - (d_bpm - 5) / 15)
    natural = (abs(t.rms_db[nxt] - t.rms_db[i]) if nxt is not None else 0.0) + t.natural_db
    energy = max(0.0, 1.0 - max(0.0, abs(t.rms_db[j] - t.rms_db[i]) - natural) / 12)
    leave = 1.0 if nxt is None else _boundary(t, nxt)
    phrase = 0.5 * leave + 0.5 * _boundary(t, j)
    ref = t.timbre[nxt] if nxt is not None else t.timbre[i]
    transition = 0.5 * (1.0 + float(ref @ t.timbre[j]))
    return tempo, energy, phrase, transition


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
    rows = np.array([seam_scores(t, i, j) for i, j in seams_of(order)]).reshape(-1, 4)
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
