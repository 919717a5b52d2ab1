"""Per-beat feature vectors, all derived from one shared STFT.

:func:`spectral_frames` computes the magnitude STFT once and derives every frame-level
descriptor from it (mel, MFCC, chroma, tonnetz, contrast, centroid, bandwidth, roll-off,
flatness, RMS, onset strength). :func:`beat_features` pools them over each beat and adds the
beat's timing and its place in the bar and phrase. ``FEATURE_NAMES`` lists the 125 dimensions,
``FEATURE_UNITS`` their units.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import librosa
import numpy as np
import scipy.fft

FEATURE_VERSION = "beatfeat-v1"
"""Bumped whenever the feature definition changes (part of the feature-store key)."""

N_MFCC = 20
N_MELS = 64
N_LOGMEL_BANDS = 16
N_CONTRAST = 7  # 6 bands + valley


def _names() -> tuple[tuple[str, str], ...]:
    n: list[tuple[str, str]] = []
    n += [(f"mfcc_mean_{i}", "dB-cepstrum") for i in range(N_MFCC)]
    n += [(f"mfcc_std_{i}", "dB-cepstrum") for i in range(N_MFCC)]
    pcs = ("C", "Cs", "D", "Ds", "E", "F", "Fs", "G", "Gs", "A", "As", "B")
    n += [(f"chroma_mean_{p}", "energy share") for p in pcs]
    n += [(f"chroma_std_{p}", "energy share") for p in pcs]
    n += [(f"contrast_mean_{i}", "dB") for i in range(N_CONTRAST)]
    n += [(f"contrast_std_{i}", "dB") for i in range(N_CONTRAST)]
    n += [(f"tonnetz_{i}", "unit circle coord") for i in range(6)]
    n += [(f"logmel_{i}", "dB") for i in range(N_LOGMEL_BANDS)]
    n += [("onset_mean", "onset strength"), ("onset_max", "onset strength")]
    n += [("rms_db_mean", "dBFS"), ("rms_db_std", "dB"), ("rms_db_max", "dBFS")]
    for d, unit in (("centroid", "kHz"), ("bandwidth", "kHz"), ("rolloff", "kHz"), ("flatness", "ratio")):
        n += [(f"{d}_mean", unit), (f"{d}_std", unit)]
    n += [("beat_duration", "s"), ("song_position", "fraction of song")]
    n += [(f"phrase_pos_{i}", "one-hot") for i in range(8)]
    n += [("harmonic_novelty", "1 - cosine"), ("timbre_novelty", "1 - cosine")]
    return tuple(n)


FEATURE_NAMES: tuple[str, ...] = tuple(name for name, _ in _names())
"""Names of the per-beat feature dimensions, in order."""
FEATURE_UNITS: dict[str, str] = dict(_names())
"""Unit of each feature dimension."""
FEATURE_DIM = len(FEATURE_NAMES)  # 125


class Frames(NamedTuple):
    """Frame-level descriptors from one STFT (``T`` frames at ``hop_length``).

    Attributes
    ----------
    mfcc : np.ndarray [shape=(20, T)]
    chroma : np.ndarray [shape=(12, T)]  energy share per pitch class
    contrast : np.ndarray [shape=(7, T)]  dB
    tonnetz : np.ndarray [shape=(6, T)]
    logmel : np.ndarray [shape=(16, T)]  dB, band-averaged from 64 mel bands
    onset : np.ndarray [shape=(T,)]  spectral-flux onset strength
    onset_low : np.ndarray [shape=(T,)]  onset strength of the mel bands below ~250 Hz
    rms_db : np.ndarray [shape=(T,)]  dBFS
    centroid, bandwidth, rolloff : np.ndarray [shape=(T,)]  kHz
    flatness : np.ndarray [shape=(T,)]
    sr : int
    hop_length : int
    """

    mfcc: np.ndarray
    chroma: np.ndarray
    contrast: np.ndarray
    tonnetz: np.ndarray
    logmel: np.ndarray
    onset: np.ndarray
    onset_low: np.ndarray
    rms_db: np.ndarray
    centroid: np.ndarray
    bandwidth: np.ndarray
    rolloff: np.ndarray
    flatness: np.ndarray
    sr: int
    hop_length: int

    @property
    def n_frames(self) -> int:
        """Number of frames ``T``."""
        return int(self.onset.shape[0])


@functools.lru_cache(maxsize=8)
def _filterbanks(sr: int, n_fft: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mel = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=N_MELS).astype(np.float32)
    chroma = librosa.filters.chroma(sr=sr, n_fft=n_fft).astype(np.float32)
    freqs = librosa.fft_frequencies(sr=sr, n_fft=n_fft).astype(np.float32)
    return mel, chroma, freqs


FRAME_BLOCK = 128
"""Frames per block where a whole spectrogram's pass would not stay in the cache."""


def stft_magnitude(y: np.ndarray, *, n_fft: int, hop_length: int) -> np.ndarray:
    """``np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop_length, dtype=np.complex64))``, value
    for value (a Hann window, frames centred on zero padding, the transform in float64 rounded to
    complex64), with each frame transformed where its samples lie contiguously, a block of frames at a
    time: librosa transforms along the strided axis, which takes about twice as long.

    Parameters
    ----------
    y : np.ndarray [shape=(n,), dtype=float32]
        Mono signal.
    n_fft, hop_length : int
        Window and hop, samples.

    Returns
    -------
    np.ndarray [shape=(1 + n_fft // 2, 1 + n // hop_length), dtype=float32]
        Magnitudes, frequency by frame, in Fortran order as librosa's.
    """
    half = n_fft // 2
    n_frames = 1 + len(y) // hop_length
    frames = np.lib.stride_tricks.sliding_window_view(np.pad(y, (half, half)), n_fft)[::hop_length][:n_frames]
    window = librosa.filters.get_window("hann", n_fft, fftbins=True)
    out = np.empty((n_frames, 1 + half), np.float32)
    for a in range(0, n_frames, FRAME_BLOCK):
        out[a:a + FRAME_BLOCK] = np.abs(np.fft.rfft(frames[a:a + FRAME_BLOCK] * window, axis=-1).astype(np.complex64))
    return out.T


def spectral_shape(S: np.ndarray, power: np.ndarray, *, freqs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Centroid, bandwidth and roll-off (85 % of the magnitude) in Hz and flatness of each frame,
    a block of frames at a time (each frame's figures are its own, so the blocks change no value).

    Parameters
    ----------
    S, power : np.ndarray [shape=(F, T), dtype=float32]
        Magnitude and power spectra.
    freqs : np.ndarray [shape=(F,)]
        Each bin's frequency, Hz.

    Returns
    -------
    centroid, bandwidth, rolloff, flatness : np.ndarray [shape=(T,), dtype=float32]
    """
    out = np.empty((4, S.shape[1]), np.float32)
    f = freqs[:, None]
    for a in range(0, S.shape[1], FRAME_BLOCK):
        s, p = S[:, a:a + FRAME_BLOCK], power[:, a:a + FRAME_BLOCK]
        mag_sum = np.maximum(s.sum(axis=0), 1e-10)
        centroid = (f * s).sum(axis=0) / mag_sum
        out[1, a:a + FRAME_BLOCK] = np.sqrt(((f - centroid) ** 2 * s).sum(axis=0) / mag_sum)
        cum = np.cumsum(s, axis=0)
        out[2, a:a + FRAME_BLOCK] = freqs[np.minimum((cum < 0.85 * cum[-1]).sum(axis=0), len(freqs) - 1)]
        log_mean = np.log(np.maximum(p, 1e-10)).mean(axis=0)
        out[3, a:a + FRAME_BLOCK] = np.exp(log_mean) / np.maximum(p.mean(axis=0), 1e-10)
        out[0, a:a + FRAME_BLOCK] = centroid
    return out[0], out[1], out[2], out[3]


def spectral_frames(y: np.ndarray, *, sr: int, n_fft: int = 2048, hop_length: int = 512) -> Frames:
    """All frame-level descriptors from a single STFT of ``y``.

    Parameters
    ----------
    y : np.ndarray [shape=(n,), dtype=float32]
        Mono signal at ``sr``.
    sr : int
        Sample rate, Hz.
    n_fft, hop_length : int
        STFT window and hop, samples.

    Returns
    -------
    Frames
    """
    mel_fb, chroma_fb, freqs = _filterbanks(sr, n_fft)
    S = stft_magnitude(y, n_fft=n_fft, hop_length=hop_length)  # (F, T)
    power = S * S
    mel = mel_fb @ power  # (64, T)
    mel_db = librosa.power_to_db(mel, ref=1.0, top_db=None)
    mel_db = np.maximum(mel_db, mel_db.max() - 80.0)
    mfcc = scipy.fft.dct(mel_db, axis=0, type=2, norm="ortho")[:N_MFCC]
    # Onset strength: positive spectral flux of the log-mel spectrogram, mean over bands.
    flux = np.maximum(0.0, np.diff(mel_db, axis=1, prepend=mel_db[:, :1]))
    onset = flux.mean(axis=0)
    onset_low = flux[:8].mean(axis=0)
    # Chroma: normalised pitch-class energy.
    chroma = chroma_fb @ power
    chroma /= np.maximum(chroma.max(axis=0, keepdims=True), 1e-10)
    tonnetz = librosa.feature.tonnetz(chroma=chroma)
    contrast = librosa.feature.spectral_contrast(S=S, sr=sr, n_fft=n_fft, freq=freqs)
    centroid, bandwidth, rolloff, flatness = spectral_shape(S, power, freqs=freqs)
    # RMS from the spectrum (Parseval), as librosa.feature.rms(S=...).
    rms = np.sqrt((2 * power[1:-1].sum(axis=0) + power[0] + power[-1]) / n_fft**2)
    rms_db = 20 * np.log10(np.maximum(rms, 1e-5))
    bands = np.array_split(np.arange(N_MELS), N_LOGMEL_BANDS)
    logmel = np.stack([mel_db[b].mean(axis=0) for b in bands])
    f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)  # noqa: E731
    return Frames(
        mfcc=f32(mfcc), chroma=f32(chroma), contrast=f32(contrast), tonnetz=f32(tonnetz), logmel=f32(logmel),
        onset=f32(onset), onset_low=f32(onset_low), rms_db=f32(rms_db), centroid=f32(centroid / 1000),
        bandwidth=f32(bandwidth / 1000), rolloff=f32(rolloff / 1000), flatness=f32(flatness), sr=sr, hop_length=hop_length,
    )


def beat_ends(beats_s: np.ndarray, *, duration_s: float) -> np.ndarray:
    """End of each beat, seconds: the next beat, and for the last one a median beat later (within the song).

    Parameters
    ----------
    beats_s : np.ndarray [shape=(n,)]
        Beat times, seconds.
    duration_s : float
        Song length, seconds.

    Returns
    -------
    ends : np.ndarray [shape=(n,)]
    """
    ibi = float(np.median(np.diff(beats_s))) if len(beats_s) > 1 else 0.5
    return np.append(beats_s[1:], min(duration_s, float(beats_s[-1]) + ibi))


def beat_frame_bounds(beats_s: np.ndarray, *, n_frames: int, sr: int, hop_length: int, duration_s: float) -> np.ndarray:
    """Frame index where each beat starts, plus one end index.

    Parameters
    ----------
    beats_s : np.ndarray [shape=(n,)]
        Beat times, seconds.

    Returns
    -------
    bounds : np.ndarray [shape=(n + 1,), dtype=int]
        Beat ``i`` covers frames ``bounds[i]:bounds[i+1]`` (never empty).
    """
    times = np.append(beats_s, beat_ends(beats_s, duration_s=duration_s)[-1])
    bounds = np.clip(np.round(times * sr / hop_length).astype(int), 0, n_frames - 1)
    bounds[-1] = max(bounds[-1], bounds[-2] + 1)
    for i in range(1, len(bounds)):  # strictly increasing so every beat has a frame
        bounds[i] = max(bounds[i], bounds[i - 1] + 1)
    return bounds


def pool_frames(x: np.ndarray, bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, standard deviation and max of ``x`` over each beat's frames.

    Parameters
    ----------
    x : np.ndarray [shape=(d, T)]
    bounds : np.ndarray [shape=(n + 1,)]

    Returns
    -------
    mean, std, max : np.ndarray [shape=(n, d)] each
    """
    x = x if x.ndim == 2 else x[None, :]
    x = np.pad(x, ((0, 0), (0, max(0, bounds[-1] - x.shape[1]))), mode="edge")
    starts = bounds[:-1]
    counts = np.diff(bounds)[:, None].astype(np.float64)
    s1 = np.add.reduceat(x, starts, axis=1).T[: len(starts)]
    s2 = np.add.reduceat(x.astype(np.float64) ** 2, starts, axis=1).T[: len(starts)]
    mean = s1 / counts
    std = np.sqrt(np.maximum(s2 / counts - mean**2, 0.0))
    mx = np.maximum.reduceat(x, starts, axis=1).T[: len(starts)]
    return mean.astype(np.float32), std.astype(np.float32), mx.astype(np.float32)


def cos_novelty(v: np.ndarray) -> np.ndarray:
    """1 - cosine similarity of each row with the previous one (0 for the first)."""
    a, b = v[1:], v[:-1]
    cos = (a * b).sum(axis=1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-9)
    return np.concatenate([[0.0], 1.0 - cos]).astype(np.float32)


def beat_features(frames: Frames, *, beats_s: np.ndarray, phrase_pos: np.ndarray, duration_s: float, bounds: np.ndarray | None = None) -> np.ndarray:
    """The per-beat feature matrix.

    Parameters
    ----------
    frames : Frames
        Output of :func:`spectral_frames`.
    beats_s : np.ndarray [shape=(n,)]
        Beat times, seconds.
    phrase_pos : np.ndarray [shape=(n,), dtype=int]
        Each beat's position in its 8-beat phrase (0 = phrase start).
    duration_s : float
        Song length, seconds.
    bounds : np.ndarray [shape=(n + 1,)] or None
        :func:`beat_frame_bounds` of these beats, if already computed.

    Returns
    -------
    features : np.ndarray [shape=(n, 125), dtype=float32]
        Columns as ``FEATURE_NAMES``.
    """
    if bounds is None:
        bounds = beat_frame_bounds(beats_s, n_frames=frames.n_frames, sr=frames.sr, hop_length=frames.hop_length, duration_s=duration_s)
    stack = np.concatenate(
        [frames.mfcc, frames.chroma, frames.contrast, frames.tonnetz, frames.logmel,
         frames.onset[None], frames.rms_db[None], frames.centroid[None], frames.bandwidth[None],
         frames.rolloff[None], frames.flatness[None]],
        axis=0,
    )
    mean, std, mx = pool_frames(stack, bounds)
    i = 0

    def take(k: int) -> slice:
        nonlocal i
        s = slice(i, i + k)
        i += k
        return s

    mfcc, chroma, contrast, tonnetz, logmel = take(N_MFCC), take(12), take(N_CONTRAST), take(6), take(N_LOGMEL_BANDS)
    onset, rms, cen, bw, ro, fl = (take(1) for _ in range(6))
    ends = beat_ends(beats_s, duration_s=duration_s)
    phrase_onehot = np.eye(8, dtype=np.float32)[np.asarray(phrase_pos) % 8]
    cols = [
        mean[:, mfcc], std[:, mfcc], mean[:, chroma], std[:, chroma], mean[:, contrast], std[:, contrast],
        mean[:, tonnetz], mean[:, logmel], mean[:, onset], mx[:, onset], mean[:, rms], std[:, rms], mx[:, rms],
        mean[:, cen], std[:, cen], mean[:, bw], std[:, bw], mean[:, ro], std[:, ro], mean[:, fl], std[:, fl],
        (ends - beats_s)[:, None], (beats_s / max(duration_s, 1e-9))[:, None], phrase_onehot,
        cos_novelty(mean[:, chroma])[:, None], cos_novelty(mean[:, mfcc][:, 1:])[:, None],
    ]
    out = np.concatenate(cols, axis=1).astype(np.float32)
    assert out.shape[1] == FEATURE_DIM, out.shape  # internal invariant, not user input
    return out
