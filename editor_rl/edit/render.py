"""Render an edit plan to audio: seams joined by crossfades, cut points at zero crossings.

At every seam the outgoing and incoming audio overlap for ``crossfade_ms`` centred on the cut.
The fade is *equal-power* for uncorrelated material and turns smoothly into *equal-gain* as the
two sides become correlated: with ρ the normalised correlation of the two overlapping stretches
(clipped to [0, 1]) the gains are ``g_out = c·k``, ``g_in = s·k`` with ``c = cos(πt/2)``,
``s = sin(πt/2)`` and ``k = 1 / sqrt(c² + s² + 2ρcs)``, which keeps the expected level of the
sum constant whatever ρ is (plain equal-power would swell by up to 3 dB on in-phase material).
Before that, both cut points move to the nearest rising zero crossing (mono mix) within
``zero_cross_window_ms``, so similar material meets in phase. Rendering is deterministic and
keeps the source's rate and channels.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from editor_rl.audio.io import Audio
from editor_rl.config import RenderConfig
from editor_rl.edit.plan import EditPlan


def _nearest_rising_zero(samples: np.ndarray, at: int, window: int) -> int:
    """Index of the rising zero crossing of the channels' mean nearest ``at`` within ±window
    samples (else ``at``); ``samples`` [shape=(n, channels)]. Only the window is mixed down."""
    if window <= 0:
        return at
    lo, hi = max(1, at - window), min(len(samples) - 1, at + window)
    if hi <= lo:
        return at
    seg = samples[lo - 1 : hi + 1].mean(axis=1)
    rising = np.flatnonzero((seg[:-1] < 0) & (seg[1:] >= 0)) + lo
    if len(rising) == 0:
        return at
    return int(rising[np.abs(rising - at).argmin()])


def _take(samples: np.ndarray, start: int, stop: int) -> np.ndarray:
    """``samples[start:stop]`` with zeros where the range leaves the array."""
    n, ch = samples.shape
    out = np.zeros((stop - start, ch), dtype=np.float32)
    a, b = max(start, 0), min(stop, n)
    if b > a:
        out[a - start : b - start] = samples[a:b]
    return out


def _crossfade_gains(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fade-out and fade-in gains [shape=(m,)] for overlapping stretches ``a`` and ``b`` [shape=(m, ch)]."""
    m = len(a)
    denom = float(np.linalg.norm(a) * np.linalg.norm(b))
    rho = float(np.clip((a * b).sum() / denom, 0.0, 1.0)) if denom > 0 else 0.0
    t = (np.arange(m) + 0.5) / m
    c, s = np.cos(0.5 * np.pi * t), np.sin(0.5 * np.pi * t)
    k = 1.0 / np.sqrt(c * c + s * s + 2 * rho * c * s)
    return (c * k).astype(np.float32), (s * k).astype(np.float32)


def render_segments(
    samples: np.ndarray,
    *,
    sample_rate: int,
    spans_s: Sequence[tuple[float, float]],
    crossfade_ms: float = 20.0,
    zero_cross_window_ms: float = 3.0,
    fade_out_s: float = 0.0,
    edge_fade_ms: float = 5.0,
) -> np.ndarray:
    """Join source spans into one signal.

    Parameters
    ----------
    samples : np.ndarray [shape=(n, channels)]
        The source at its own rate.
    sample_rate : int
        Hz.
    spans_s : sequence of (start_s, end_s)
        Source spans in output order.
    crossfade_ms : float
        Overlap at each seam, milliseconds.
    zero_cross_window_ms : float
        How far a cut point may move to reach a rising zero crossing, milliseconds.
    fade_out_s : float
        Fade-out over the last this-many seconds (0: none beyond the edge fade).
    edge_fade_ms : float
        Short fades at the output's very start and end, milliseconds.

    Returns
    -------
    out : np.ndarray [shape=(m, channels), dtype=float32]
        ``m`` is the sum of the (snapped) span lengths.
    """
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim == 1:
        samples = samples[:, None]
    cuts = _snapped_cuts(samples, spans_s, sample_rate=sample_rate, window=int(round(zero_cross_window_ms * 1e-3 * sample_rate)))
    out = _joined(samples, cuts, half=int(round(crossfade_ms * 1e-3 * sample_rate / 2)))
    total = len(out)
    edge = min(int(round(edge_fade_ms * 1e-3 * sample_rate)), total // 4)
    if edge > 0:
        ramp = np.sin(0.5 * np.pi * (np.arange(edge) + 0.5) / edge).astype(np.float32)
        if cuts and cuts[0][0] > 0:
            out[:edge] *= ramp[:, None]
        out[-edge:] *= ramp[::-1, None]
    fade = min(int(round(fade_out_s * sample_rate)), total // 2)
    if fade > 0:
        out[-fade:] *= np.cos(0.5 * np.pi * (np.arange(fade) + 0.5) / fade).astype(np.float32)[:, None]
    return out


def _snapped_cuts(samples: np.ndarray, spans_s: Sequence[tuple[float, float]], *, sample_rate: int, window: int) -> list[tuple[int, int]]:
    """The spans in samples, clipped to the source, each inner cut point moved to the nearest rising
    zero crossing within ``window`` samples; empty spans dropped."""
    n = len(samples)
    cuts = [[int(round(s * sample_rate)), int(round(e * sample_rate))] for s, e in spans_s]
    for i in range(len(cuts)):
        cuts[i][0], cuts[i][1] = min(max(cuts[i][0], 0), n), min(max(cuts[i][1], 0), n)
        if i > 0:
            cuts[i][0] = _nearest_rising_zero(samples, cuts[i][0], window)
        if i < len(cuts) - 1:
            cuts[i][1] = _nearest_rising_zero(samples, cuts[i][1], window)
    return [(s, e) for s, e in cuts if e > s]


def _joined(samples: np.ndarray, cuts: list[tuple[int, int]], *, half: int) -> np.ndarray:
    """The cuts laid end to end, each seam crossfaded over up to ``2 · half`` samples."""
    total = sum(e - s for s, e in cuts)
    out = np.zeros((total, samples.shape[1]), dtype=np.float32)
    seams = []  # gains for each seam between cuts[i] and cuts[i + 1]
    for (s0, e0), (s1, e1) in zip(cuts, cuts[1:]):
        h = min(half, (e0 - s0) // 2, (e1 - s1) // 2)
        go, gi = _crossfade_gains(_take(samples, e0 - h, e0 + h), _take(samples, s1 - h, s1 + h)) if h > 0 else (np.ones(0, np.float32), np.ones(0, np.float32))
        seams.append((h, go, gi))
    pos = 0
    for i, (s, e) in enumerate(cuts):  # cut i goes to out[pos - h_in : pos + e - s + h_out]: faded in and out over its seams' 2 h
        h_in = seams[i - 1][0] if i > 0 else 0
        h_out = seams[i][0] if i < len(seams) else 0
        a, n = pos - h_in, e - s + h_in + h_out
        if h_in:
            out[a : a + 2 * h_in] += _take(samples, s - h_in, s + h_in) * seams[i - 1][2][:, None]
        out[a + 2 * h_in : a + n - 2 * h_out] += samples[s + h_in : e - h_out]  # the untouched middle, read in place
        if h_out:
            out[a + n - 2 * h_out : a + n] += _take(samples, e - h_out, e + h_out) * seams[i][1][:, None]
        pos += e - s
    return out


def render_plan(audio: Audio, plan: EditPlan, *, config: RenderConfig = RenderConfig()) -> np.ndarray:
    """Render an :class:`EditPlan` of ``audio``.

    Parameters
    ----------
    audio : Audio
        The decoded source (its own rate and channels).
    plan : EditPlan
    config : RenderConfig

    Returns
    -------
    out : np.ndarray [shape=(m, channels), dtype=float32]
        At ``audio.sample_rate``.
    """
    return render_segments(
        audio.samples,
        sample_rate=audio.sample_rate,
        spans_s=[(s.src_start_s, s.src_end_s) for s in plan.segments],
        crossfade_ms=config.crossfade_ms,
        zero_cross_window_ms=config.zero_cross_window_ms,
        fade_out_s=config.fade_out_s if plan.fade_out else 0.0,
        edge_fade_ms=config.edge_fade_ms,
    )
