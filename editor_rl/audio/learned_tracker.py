"""A small learned beat and downbeat tracker (``beats.tracker: learned``, the default).

A temporal convolutional network (Davies and Böck 2019's design, ≈ 0.1 M parameters) reads one
cheap spectrogram — 64 log-mel bands and their positive flux at :data:`FPS` frames per second —
and gives each frame a beat and a downbeat activation. It was distilled from madmom's RNN + DBN
tracks of the real recordings this project may train on, together with the synthetic songs' true
beats, with tempo and pitch augmentation (``scripts/train_beat_tracker.py`` retrains it; the
weights, :data:`WEIGHTS`, ship in the package). Decoding is NumPy: the tempo from the beat
activation's autocorrelation (doubled where the network marks a beat between each two found),
Ellis's dynamic programme over the activation (:func:`beat_dp`), each beat moved to its activation peak, and the bar lines by a Viterbi over bar positions on the
downbeat activation at the beats (:func:`bar_positions`).

Nothing here needs madmom: it is a teacher, not a dependency.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import NamedTuple

import librosa
import numpy as np
import torch
from torch import nn

from editor_rl.audio.beats import bar_positions, beat_dp, global_tempo
from editor_rl.audio.features import stft_magnitude
from editor_rl.errors import ConfigError

SAMPLE_RATE = 22050
"""The tracker's input rate, Hz."""
HOP = 441
"""STFT hop at :data:`SAMPLE_RATE`: 50 frames per second."""
FPS = SAMPLE_RATE / HOP
N_FFT = 2048
N_MELS = 64
WEIGHTS = Path(__file__).with_name("models") / "beat_tcn.pt"
"""The shipped weights (``scripts/train_beat_tracker.py`` writes them)."""
RETRAIN = "python scripts/train_beat_tracker.py"


def mel_bands(y: np.ndarray) -> np.ndarray:
    """Mel magnitudes of a mono signal at :data:`SAMPLE_RATE`: (N_MELS, T) at :data:`FPS`."""
    S = stft_magnitude(np.asarray(y, np.float32), n_fft=N_FFT, hop_length=HOP)
    return librosa.feature.melspectrogram(S=S, sr=SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS, fmin=30.0, fmax=11000.0)


def features_of(mel: np.ndarray) -> np.ndarray:
    """The network's input from :func:`mel_bands`: log-mel bands and their positive flux, (T, 2 · N_MELS) float32."""
    logmel = np.log1p(100.0 * mel)
    flux = np.maximum(0.0, np.diff(logmel, axis=1, prepend=logmel[:, :1]))
    return np.concatenate([logmel, flux], axis=0).T.astype(np.float32)


def spectrogram(y: np.ndarray) -> np.ndarray:
    """The network's input: log-mel bands and their positive flux.

    Parameters
    ----------
    y : np.ndarray [shape=(m,), dtype=float32]
        Mono signal at :data:`SAMPLE_RATE`.

    Returns
    -------
    np.ndarray [shape=(T, 2 * N_MELS), dtype=float32]
        ``T = 1 + m // HOP`` frames at :data:`FPS`.
    """
    return features_of(mel_bands(y))


@functools.cache
def _digest(path: str, mtime_ns: int) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def weights_digest(path: str | Path) -> str:
    """Short hash of a weights file's bytes ("missing" when there is none), read once per file version."""
    p = Path(path)
    return _digest(str(p), p.stat().st_mtime_ns) if p.is_file() else "missing"


class TCN(nn.Module):
    """Frames of :func:`spectrogram` → beat and downbeat logits.

    A 1-D convolution over the bands, then residual blocks of dilated convolutions (dilation
    1, 2, 4, … frames: a receptive field of tens of seconds), each with dropout.
    """

    def __init__(self, *, channels: int = 40, kernel: int = 5, dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512), dropout: float = 0.1):
        super().__init__()
        self.config = {"channels": channels, "kernel": kernel, "dilations": tuple(dilations), "dropout": dropout}
        self.inp = nn.Sequential(nn.Conv1d(2 * N_MELS, channels, 3, padding=1), nn.ELU(), nn.Dropout(dropout))
        self.blocks = nn.ModuleList(nn.Sequential(nn.Conv1d(channels, channels, kernel, dilation=d, padding=d * (kernel - 1) // 2), nn.ELU(), nn.Dropout(dropout))
                                    for d in dilations)
        self.out = nn.Conv1d(channels, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (batch, T, 2 · N_MELS) → logits (batch, T, 2): beat, downbeat."""
        h = self.inp(x.transpose(1, 2))
        for block in self.blocks:
            h = h + block(h)
        return self.out(h).transpose(1, 2)


@functools.cache
def load(path: str = str(WEIGHTS)) -> TCN:
    """The trained network (cached per path).

    Raises
    ------
    ConfigError
        No weights at ``path``: says where they were looked for and how to make them.
    """
    if not Path(path).is_file():
        raise ConfigError(f"beats.tracker 'learned': no weights at {path}; reinstall editor-rl or retrain them with {RETRAIN}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = TCN(**state["config"])
    model.load_state_dict(state["state_dict"])
    return model.eval()


def activations(y: np.ndarray, *, weights: str | Path = WEIGHTS) -> np.ndarray:
    """Beat and downbeat probabilities per frame.

    Parameters
    ----------
    y : np.ndarray [shape=(m,)]
        Mono signal at :data:`SAMPLE_RATE`.

    Returns
    -------
    np.ndarray [shape=(T, 2)]
        Beat, downbeat probability at :data:`FPS`.
    """
    model = load(str(weights))
    with torch.inference_mode():
        logits = model(torch.from_numpy(spectrogram(y))[None])[0]
    return torch.sigmoid(logits).numpy().astype(np.float64)


class Tracked(NamedTuple):
    """What the learned tracker found.

    Attributes
    ----------
    beats_s : np.ndarray [shape=(n,)]
        Beat times, seconds.
    bar_pos : np.ndarray [shape=(n,), dtype=int64]
        Each beat's position in its bar, 0 at a bar line.
    tempo_bpm : float
    beat_confidence : float
        Mean beat activation at the beats found (1: every beat on a sure peak).
    bar_contrast : float
        The downbeat activation's mean at the beats of the bar position most like a bar line,
        over its mean at the next most like one: near 1 when the network cannot tell where
        bars start, the tracker's own measure of its bar lines (:meth:`sure`).
    """

    beats_s: np.ndarray
    bar_pos: np.ndarray
    tempo_bpm: float
    beat_confidence: float
    bar_contrast: float

    def sure(self, *, min_beat_confidence: float, min_bar_contrast: float) -> bool:
        """Whether the tracker's own measures say its beats and bar lines are right."""
        return self.beat_confidence >= min_beat_confidence and self.bar_contrast >= min_bar_contrast


def tempo_of(beat_act: np.ndarray, *, min_bpm: float, max_bpm: float) -> float:
    """The beat activation's dominant period in BPM, in ``[min_bpm, max_bpm]`` (autocorrelation
    weighted by a log-normal prior around 120 BPM, as librosa's)."""
    bpm = global_tempo(beat_act.astype(np.float32), sr=SAMPLE_RATE, hop_length=HOP, max_bpm=max_bpm)
    while bpm < min_bpm:
        bpm *= 2
    while bpm > max_bpm:
        bpm /= 2
    return bpm


def _peak(act: np.ndarray, frames: np.ndarray, radius: int) -> np.ndarray:
    """Each frame moved to the activation's largest value within ``radius`` frames, sub-frame by a parabola."""
    n = len(act)
    offsets = np.arange(-radius, radius + 1)
    idx = np.clip(frames[:, None] + offsets[None, :], 0, n - 1)
    best = idx[np.arange(len(frames)), act[idx].argmax(axis=1)]
    left, mid, right = act[np.maximum(best - 1, 0)], act[best], act[np.minimum(best + 1, n - 1)]
    denom = left - 2 * mid + right
    shift = np.where(np.abs(denom) > 1e-9, 0.5 * (left - right) / np.where(np.abs(denom) > 1e-9, denom, 1.0), 0.0)
    return best + np.clip(shift, -0.5, 0.5)


def _near(act: np.ndarray, frames: np.ndarray, radius: int = 2) -> np.ndarray:
    """The activation's largest value within ``radius`` frames of each frame."""
    return act[np.clip(frames[:, None] + np.arange(-radius, radius + 1)[None, :], 0, len(act) - 1)].max(axis=1)


def decode(act: np.ndarray, *, beats_per_bar: int, min_bpm: float = 55.0, max_bpm: float = 215.0, tightness: float = 100.0) -> Tracked:
    """Beats and bar lines from :func:`activations`.

    Parameters
    ----------
    act : np.ndarray [shape=(T, 2)]
        Beat and downbeat probabilities at :data:`FPS`.
    beats_per_bar : int
    min_bpm, max_bpm : float
        Tempo range.
    tightness : float
        Ellis's tempo-consistency weight (lower follows drift more freely).

    Returns
    -------
    Tracked
    """
    beat, down = act[:, 0], act[:, 1]
    bpm = tempo_of(beat, min_bpm=min_bpm, max_bpm=max_bpm)
    frames = beat_dp(beat, period=60.0 * FPS / bpm, tightness=tightness)
    if len(frames) >= 8 and 2 * bpm <= max_bpm:  # the network marks a beat between each two found: the tempo was an octave low
        mids = ((frames[:-1] + frames[1:]) // 2).astype(int)
        if _near(beat, mids).mean() > 0.5 * _near(beat, frames.astype(int)).mean():
            bpm *= 2
            frames = beat_dp(beat, period=60.0 * FPS / bpm, tightness=tightness)
    frames = frames[(frames > 0) & (frames < len(beat) - 1)] if len(frames) else frames
    if len(frames) == 0:
        return Tracked(np.zeros(0), np.zeros(0, np.int64), bpm, 0.0, 1.0)
    exact = _peak(beat, frames.astype(int), radius=2)
    nearest = np.clip(np.rint(exact).astype(int), 0, len(down) - 1)
    evidence = _near(down, nearest)  # the downbeat activation's peak within two frames of each beat
    bar_pos = bar_positions(np.log(evidence + 1e-3) - np.log(1 - evidence + 1e-3), beats_per_bar=beats_per_bar)
    by_position = np.sort([evidence[bar_pos == k].mean() if (bar_pos == k).any() else 0.0 for k in range(beats_per_bar)])
    contrast = float(by_position[-1] / max(by_position[-2], 1e-3))
    return Tracked(exact / FPS, bar_pos, bpm, float(beat[nearest].mean()), contrast)


def track(y: np.ndarray, *, beats_per_bar: int, min_bpm: float, max_bpm: float, tightness: float, weights: str | Path = WEIGHTS) -> Tracked:
    """:func:`decode` of :func:`activations` of a mono signal at :data:`SAMPLE_RATE`.

    Raises
    ------
    ConfigError
        The weights are missing.
    """
    return decode(activations(y, weights=weights), beats_per_bar=beats_per_bar, min_bpm=min_bpm, max_bpm=max_bpm, tightness=tightness)
