"""Tempo, beats (refined to onsets), downbeats and 8-beat phrase starts.

The pipeline, all from the onset envelope of the shared STFT plus the raw signal:

1. tempo: librosa's global estimate, folded into the preferred range (70–180 BPM);
2. beats: Ellis's dynamic-programming tracker (:func:`beat_dp`, NumPy) at that tempo, then a metrical-level check
   (every other beat much weaker → the tempo was doubled: halve; strong onsets midway between
   beats → the tempo was halved: double);
3. refinement: each beat moves to the steepest nearby energy rise within ±35 ms in a 2.9 ms-resolution
   envelope (librosa's frame-level beats lag real onsets by tens of ms);
4. downbeats: a Viterbi pass over the bar position of every beat, emissions from harmonic change
   and low-band (kick/bass) onsets, which mostly fall on bar starts;
5. phrases: of the two downbeat parities, the one with the stronger novelty starts 8-beat phrases.
"""

from __future__ import annotations

import librosa
import numpy as np
import scipy.fft

from editor_rl.config import BeatConfig


def _fold_tempo(bpm: float, lo: float, hi: float) -> float:
    while bpm < lo:
        bpm *= 2
    while bpm > hi:
        bpm /= 2
    return bpm


def _strength_at(onset: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """Largest onset strength within ±1 frame of each frame index."""
    idx = np.clip(frames[:, None] + np.arange(-1, 2)[None, :], 0, len(onset) - 1)
    return onset[idx].max(axis=1)


def tempogram(onset: np.ndarray, *, win_length: int) -> np.ndarray:
    """librosa's tempogram of an onset envelope (Hann window, centred, each frame's autocorrelation
    scaled to a peak of 1), value for value, with each frame's window laid out contiguously: librosa
    transforms along the strided axis, which takes twice as long.

    Parameters
    ----------
    onset : np.ndarray [shape=(T,)]
        Onset strength (or beat activation) per frame.
    win_length : int
        Autocorrelation window, frames.

    Returns
    -------
    np.ndarray [shape=(win_length, T), dtype=float64]
        The local autocorrelation at each lag (rows) and frame (columns).
    """
    n, half = len(onset), win_length // 2
    padded = np.pad(onset, (half, half), mode="linear_ramp", end_values=[0, 0])
    frames = np.lib.stride_tricks.sliding_window_view(padded, win_length)[:n] * librosa.filters.get_window("hann", win_length, fftbins=True)
    n_pad = scipy.fft.next_fast_len(2 * win_length - 1, real=True)
    spectrum = np.fft.rfft(frames, n=n_pad, axis=-1)
    ac = np.fft.irfft(spectrum.real**2 + spectrum.imag**2, n=n_pad, axis=-1)[:, :win_length]
    peak = np.abs(ac).max(axis=-1, keepdims=True)
    peak[peak < np.finfo(ac.dtype).tiny] = 1.0  # a silent window stays as it is
    return np.ascontiguousarray((ac / peak).T)


def global_tempo(onset: np.ndarray, *, sr: float, hop_length: int, max_bpm: float = 320.0) -> float:
    """librosa's tempo estimate (``librosa.feature.tempo``: the mean :func:`tempogram` over 8-s
    windows weighted by a log-normal prior around 120 BPM), value for value.

    Parameters
    ----------
    onset : np.ndarray [shape=(T,)]
        Onset strength per frame, at ``sr / hop_length`` frames per second.
    sr : float
        Sample rate, Hz.
    hop_length : int
        Samples per frame.
    max_bpm : float
        No tempo at or above this.

    Returns
    -------
    float
        Beats per minute.
    """
    win_length = int(librosa.time_to_frames(8.0, sr=sr, hop_length=hop_length))
    return float(librosa.feature.tempo(onset_envelope=onset, sr=sr, hop_length=hop_length, tg=tempogram(onset, win_length=win_length),
                                       start_bpm=120.0, std_bpm=1.0, max_tempo=max_bpm)[0])


def beat_dp(onset: np.ndarray, *, period: float, tightness: float) -> np.ndarray:
    """Ellis's dynamic-programming beat tracker (as librosa's), in NumPy.

    Each frame's score is its smoothed onset strength plus the best predecessor's score less a
    penalty ``tightness * log(gap / period)**2`` for gaps in ``[period/2, 2 period]``; the best
    chain ending near the song's end is traced back.

    Parameters
    ----------
    onset : np.ndarray [shape=(T,)]
        Onset strength per frame.
    period : float
        Expected beat period, frames.
    tightness : float
        How strictly beats follow ``period``.

    Returns
    -------
    beat_frames : np.ndarray [shape=(n,), dtype=int]
    """
    onset = onset / (onset.std() + 1e-9)
    width = max(1, int(round(period / 32)))  # smooth with a Gaussian of ~period/32 frames
    win = np.exp(-0.5 * (np.arange(-4 * width, 4 * width + 1) / width) ** 2)
    local = np.convolve(onset, win, mode="same")
    lags = np.arange(int(round(2 * period)), max(1, int(round(period / 2))) - 1, -1)  # gaps, far to near
    penalty = -tightness * np.log(lags / period) ** 2
    cum, back = _chain_scores(local, lags=lags, penalty=penalty, start=_first_at_least(local, 0.01 * local.max()))
    return _trace_back(cum, back, local)


def _first_at_least(x: np.ndarray, level: float) -> int:
    """Index of the first value of ``x`` at or above ``level`` (``len(x)`` if none)."""
    above = np.flatnonzero(x >= level)
    return int(above[0]) if len(above) else len(x)


def _chain_scores(local: np.ndarray, *, lags: np.ndarray, penalty: np.ndarray, start: int) -> tuple[np.ndarray, np.ndarray]:
    """Ellis's cumulative scores and back-pointers, a block of frames at a time.

    Frame ``i``'s score is ``local[i]`` plus the best of ``cum[i - lag] + penalty`` over the lags
    (back-pointer: that predecessor; the first of equals), or ``local[i]`` alone before ``start``
    (the first strong frame) or where no predecessor exists yet. A frame's predecessors lie at least
    the shortest lag back, so a block of that many frames depends only on frames before it: each
    block is one vectorised step, with the same sums and the same choices as a frame-by-frame loop.

    Parameters
    ----------
    local : np.ndarray [shape=(T,)]
        Smoothed onset strength.
    lags : np.ndarray [shape=(L,), dtype=int]
        Allowed gaps in frames, longest first.
    penalty : np.ndarray [shape=(L,)]
        Each gap's tempo penalty.
    start : int
        First frame allowed a predecessor.

    Returns
    -------
    cum : np.ndarray [shape=(T,)]
    back : np.ndarray [shape=(T,), dtype=int64]
        The predecessor of each frame, -1 for none.
    """
    T, longest, shortest = len(local), int(lags[0]), int(lags[-1])
    padded = np.full(T + longest, -np.inf)  # scores before the first frame are -inf: not a predecessor
    cum = padded[longest:]
    back = np.full(T, -1, dtype=np.int64)
    windows = np.lib.stride_tricks.sliding_window_view(padded, len(lags))  # row i: cum[i - lags]
    for a in range(0, T, shortest):
        b = min(a + shortest, T)
        cand = windows[a:b] + penalty
        j = cand.argmax(axis=1)
        best = cand[np.arange(b - a), j]
        frames = np.arange(a, b)
        chained = (frames >= start) & (best != -np.inf)
        cum[a:b] = np.where(chained, local[a:b] + best, local[a:b])
        back[a:b] = np.where(chained, frames - lags[j], -1)
    return cum, back


def _trace_back(cum: np.ndarray, back: np.ndarray, local: np.ndarray) -> np.ndarray:
    """The beat chain ending at the last strong peak of the cumulative score, weak edge beats trimmed."""
    # The last beat: the latest local maximum of the cumulative score above half their median.
    peaks = np.flatnonzero((cum[1:-1] >= cum[:-2]) & (cum[1:-1] > cum[2:])) + 1
    if len(peaks) == 0:
        return np.zeros(0, dtype=int)
    good = peaks[cum[peaks] >= 0.5 * np.median(cum[peaks])]
    i = int(good[-1])
    beats = [i]
    while back[i] >= 0:
        i = int(back[i])
        beats.append(i)
    frames = np.array(beats[::-1], dtype=int)
    # Trim weak beats at the edges (fade-ins, silence), as librosa's trim does.
    strong = local[frames] >= 0.5 * np.sqrt(np.mean(local[frames] ** 2))
    if strong.any():
        keep = np.arange(np.argmax(strong), len(frames) - np.argmax(strong[::-1]))
        frames = frames[keep]
    return frames


def track_beats(onset: np.ndarray, *, sr: int, hop_length: int, config: BeatConfig) -> tuple[float, np.ndarray]:
    """Tempo and beat frames from an onset envelope, at the right metrical level.

    Parameters
    ----------
    onset : np.ndarray [shape=(T,)]
        Onset strength per frame.
    sr, hop_length : int
        Frame rate is ``sr / hop_length``.
    config : BeatConfig

    Returns
    -------
    tempo_bpm : float
    beat_frames : np.ndarray [shape=(n,), dtype=int]
    """
    lo, hi = config.tempo_min_bpm, config.tempo_max_bpm
    raw = global_tempo(onset, sr=sr, hop_length=hop_length)
    bpm = _fold_tempo(raw if raw > 0 else 120.0, lo, hi)

    def run(b: float) -> np.ndarray:
        return beat_dp(onset, period=60.0 * sr / hop_length / b, tightness=config.tightness)

    frames = run(bpm)
    if len(frames) >= 8:
        s = _strength_at(onset, frames)
        even, odd = s[0::2].mean(), s[1::2].mean()
        mids = ((frames[:-1] + frames[1:]) // 2).astype(int)
        mid_ratio = _strength_at(onset, mids).mean() / max(s.mean(), 1e-9)
        if min(even, odd) / max(even, odd, 1e-9) < 0.55 and bpm / 2 >= lo:
            bpm /= 2
            frames = run(bpm)
        elif mid_ratio > 0.5 and bpm * 2 <= hi:
            bpm *= 2
            frames = run(bpm)
    return bpm, frames


def refine_to_onsets(y: np.ndarray, beats_s: np.ndarray, *, sr: int, window_s: float, hop: int = 64, min_rise_db: float = 3.0) -> np.ndarray:
    """Move each beat to the steepest energy rise near it (nearer rises preferred).

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono signal at ``sr``.
    beats_s : np.ndarray [shape=(k,)]
        Beat times, seconds.
    sr : int
    window_s : float
        Search ±this many seconds around each beat.
    hop : int
        Envelope resolution in samples (64 = 2.9 ms at 22 050 Hz).
    min_rise_db : float
        Beats with no rise at least this steep in their window stay where they are.

    Returns
    -------
    refined : np.ndarray [shape=(k,)]
        Strictly increasing beat times, seconds.
    """
    if window_s <= 0 or len(beats_s) == 0:
        return beats_s.copy()
    n_frames = max(1, (len(y) - 2 * hop) // hop + 1)
    idx = np.arange(n_frames)[:, None] * hop + np.arange(2 * hop)[None, :]
    energy = np.square(y[np.minimum(idx, len(y) - 1)], dtype=np.float64).sum(axis=1)
    log_e = 10 * np.log10(energy + 1e-10)
    rise = np.diff(log_e, prepend=log_e[0])  # rise[k]: frame k (samples k*hop .. k*hop+2hop) vs k-1
    w = int(round(window_s * sr / hop))
    centre = np.round(beats_s * sr / hop).astype(int)
    cand = np.clip(centre[:, None] + np.arange(-w, w + 1)[None, :], 0, n_frames - 1)
    r = rise[cand]
    closeness = np.exp(-0.5 * (np.arange(-w, w + 1) / max(w / 2, 1)) ** 2)  # prefer onsets near the beat
    best = (np.maximum(r, 0) * closeness[None, :]).argmax(axis=1)
    new_frames = cand[np.arange(len(centre)), best]
    moved = np.where(r[np.arange(len(centre)), best] >= min_rise_db, (new_frames * hop + hop) / sr, beats_s)
    out = np.asarray(moved, dtype=np.float64)
    for i in range(1, len(out)):  # keep order if two beats chose the same onset
        if out[i] <= out[i - 1]:
            out[i] = beats_s[i] if beats_s[i] > out[i - 1] else out[i - 1] + 1e-3
    return out


def zscore(x: np.ndarray) -> np.ndarray:
    """Standardise to zero mean and unit variance (a constant maps to zeros)."""
    return (x - x.mean()) / (x.std() + 1e-9)


def bar_positions(downbeat_evidence: np.ndarray, *, beats_per_bar: int, switch_penalty: float = 6.0) -> np.ndarray:
    """Viterbi decoding of each beat's position in its bar.

    Parameters
    ----------
    downbeat_evidence : np.ndarray [shape=(n,)]
        Higher where a beat is more likely a bar start (z-scored internally).
    beats_per_bar : int
    switch_penalty : float
        Log-score cost of a position that does not follow from the previous beat's (a missed
        or extra beat); high values force one global phase.

    Returns
    -------
    positions : np.ndarray [shape=(n,), dtype=int64]
    """
    z = zscore(np.asarray(downbeat_evidence, dtype=np.float64))
    n, k = len(z), beats_per_bar
    emit = np.zeros((n, k))
    emit[:, 0] = z
    emit[:, 1:] = -z[:, None] / (k - 1)
    trans = np.full((k, k), -switch_penalty)
    for p in range(k):
        trans[p, (p + 1) % k] = 0.0
    score = emit[0].copy()
    back = np.zeros((n, k), dtype=int)
    for i in range(1, n):
        cand = score[:, None] + trans  # from p to q
        back[i] = cand.argmax(axis=0)
        score = cand.max(axis=0) + emit[i]
    pos = np.zeros(n, dtype=np.int64)
    pos[-1] = int(score.argmax())
    for i in range(n - 1, 0, -1):
        pos[i - 1] = back[i, pos[i]]
    return pos


def phrase_positions(bar_pos: np.ndarray, phrase_evidence: np.ndarray, *, beats_per_bar: int, beats_per_phrase: int) -> np.ndarray:
    """Each beat's position in its phrase, choosing which downbeats start phrases.

    Parameters
    ----------
    bar_pos : np.ndarray [shape=(n,)]
    phrase_evidence : np.ndarray [shape=(n,)]
        Novelty per beat; phrases start where it is strongest among downbeats.

    Returns
    -------
    positions : np.ndarray [shape=(n,), dtype=int64]
    """
    bars_per_phrase = beats_per_phrase // beats_per_bar
    bar_index = np.cumsum(bar_pos == 0) - 1  # -1 before the first downbeat
    down = np.flatnonzero(bar_pos == 0)
    ev = np.asarray(phrase_evidence, dtype=np.float64)
    scores = [ev[down[(bar_index[down] % bars_per_phrase) == o]].mean() if len(down) else 0.0 for o in range(bars_per_phrase)]
    offset = int(np.nanargmax(scores)) if len(down) else 0
    bar_in_phrase = (bar_index - offset) % bars_per_phrase
    return (bar_in_phrase * beats_per_bar + bar_pos).astype(np.int64)
