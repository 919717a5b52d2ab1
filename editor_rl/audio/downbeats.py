"""Where bars and phrases start: per-beat evidence for the Viterbi of
:func:`editor_rl.audio.beats.bar_positions` and for :func:`editor_rl.audio.beats.phrase_positions`.

Each beat gets a row of descriptors (:func:`bar_descriptors`): how much the harmony, the tonal
centre and the timbre change at it over one, two and four beats, how hard the kick/bass, each of
four bands and the whole mix land on it, its loudness and its rise, its brightness and noisiness
(cymbals), each z-scored within the song, for the beat itself and its two neighbours.

The evidence a bar starts at a beat is hand-weighted: harmony change + half the low-band onset.
``bench/bench_downbeat_learning.py`` asks whether models fit to madmom's downbeats of the real
training tracks do better from the same descriptors (so far they do not, under cross-validation).
"""

from __future__ import annotations

import numpy as np

from editor_rl.audio.beats import zscore
from editor_rl.audio.features import Frames, cos_novelty, pool_frames

BASE_NAMES = (
    "chroma_nov_1", "chroma_nov_2", "chroma_nov_4", "mfcc_nov_1", "mfcc_nov_4",
    "onset_low", "onset_all", "rms", "rms_rise", "centroid", "flatness",
    "tonnetz_nov_1", "tonnetz_nov_4", "flux_band_0", "flux_band_1", "flux_band_2", "flux_band_3",
)
CONTEXT = (-1, 0, 1)
NAMES = tuple(f"{n}@{o:+d}" for o in CONTEXT for n in BASE_NAMES)


def _window_novelty(v: np.ndarray, width: int) -> np.ndarray:
    """1 - cosine between the mean of the ``width`` rows from each row on and the ``width`` before it.

    v : [shape=(n, d)] → [shape=(n,)]; rows without a full window on both sides use what there is.
    """
    n = len(v)
    c = np.concatenate([np.zeros((1, v.shape[1])), np.cumsum(v, axis=0, dtype=np.float64)])
    i = np.arange(n)
    lo, hi = np.maximum(i - width, 0), np.minimum(i + width, n)
    before = (c[i] - c[lo]) / np.maximum(i - lo, 1)[:, None]
    after = (c[hi] - c[i]) / np.maximum(hi - i, 1)[:, None]
    cos = (before * after).sum(axis=1) / np.maximum(np.linalg.norm(before, axis=1) * np.linalg.norm(after, axis=1), 1e-9)
    out = 1.0 - cos
    out[0] = 0.0
    return out


def bar_descriptors(frames: Frames, bounds: np.ndarray) -> np.ndarray:
    """Per-beat descriptors for bar starts, with their neighbours' (``NAMES`` order).

    Parameters
    ----------
    frames : Frames
        The song's spectral frames.
    bounds : np.ndarray [shape=(n + 1,), dtype=int]
        Beat ``i`` covers frames ``bounds[i]:bounds[i+1]``.

    Returns
    -------
    X : np.ndarray [shape=(n, len(NAMES)), dtype=float64]
        Each base descriptor z-scored within the song; a neighbour outside the song repeats the edge.
    """
    stack = np.concatenate([frames.chroma, frames.mfcc, frames.rms_db[None], frames.centroid[None], frames.flatness[None], frames.tonnetz])
    pooled = pool_frames(stack, bounds)[0].astype(np.float64)
    tonnetz = pooled[:, 35:41]
    # MFCC 1–19: timbre without the overall level (coefficient 0).
    chroma, mfcc, rms, centroid, flatness = pooled[:, :12], pooled[:, 13:32], pooled[:, 32], pooled[:, 33], pooled[:, 34]
    early = np.minimum(bounds[:-1] + 3, bounds[1:])  # the first ~3 frames (70 ms) of each beat
    edges = np.stack([bounds[:-1], early], axis=1).ravel()
    low = pool_frames(frames.onset_low, edges)[0][0::2, 0]
    allband = pool_frames(frames.onset, edges)[0][0::2, 0]
    groups = frames.logmel.reshape(4, -1, frames.logmel.shape[1]).mean(axis=1)  # 4 bands, low to high
    flux = np.maximum(0.0, np.diff(groups, axis=1, prepend=groups[:, :1]))
    band_onsets = pool_frames(flux, edges)[0][0::2]  # (n, 4)
    base = np.stack([
        cos_novelty(chroma), _window_novelty(chroma, 2), _window_novelty(chroma, 4),
        cos_novelty(mfcc), _window_novelty(mfcc, 4),
        low, allband, rms, np.diff(rms, prepend=rms[0]), centroid, flatness,
        cos_novelty(tonnetz + 1.0), _window_novelty(tonnetz + 1.0, 4), *band_onsets.T,
    ], axis=1).astype(np.float64)
    base = (base - base.mean(axis=0)) / (base.std(axis=0) + 1e-9)
    n = len(base)
    idx = np.clip(np.arange(n)[:, None] + np.asarray(CONTEXT)[None, :], 0, n - 1)  # (n, len(CONTEXT))
    return base[idx].reshape(n, -1)


def heuristic_evidence(X: np.ndarray) -> np.ndarray:
    """The hand-weighted evidence: harmony change + half the low-band onset, at the beat itself.

    X : [shape=(n, len(NAMES))] → [shape=(n,)]
    """
    at = NAMES.index
    return zscore(X[:, at("chroma_nov_1@+0")]) + 0.5 * zscore(X[:, at("onset_low@+0")])


def phrase_evidence(X: np.ndarray) -> np.ndarray:
    """Evidence that a beat starts a phrase: brighter, noisier (cymbal), louder and timbrally new.

    X : [shape=(n, len(NAMES))] → [shape=(n,)]
    """
    at = NAMES.index
    return sum(zscore(X[:, at(f"{name}@+0")]) for name in ("centroid", "flatness", "rms_rise", "mfcc_nov_1"))
