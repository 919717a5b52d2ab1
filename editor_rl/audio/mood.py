"""Mood: what a request asks for (a named mood or an arousal/valence point) and what a song's beats
sound like on the same two axes.

Arousal (calm −1 … +1 energetic) and valence (dark −1 … +1 bright) are the two axes of Russell's
circumplex. :data:`NAMED_MOODS` places the six moods people may ask for; a :class:`Mood` is a
request. :func:`beat_moods` estimates every beat's arousal and valence from the analysis's
per-beat features — loudness and its rise, onset density and peaks, brightness, spectral tilt and
flatness, timbre change and tempo for arousal; the mode against the song's own tonic, harmonic
tension (minor seconds and tritones in the chroma), harmonic change and brightness for valence —
by a small network (one hidden layer of 32) over those descriptors standardised per song (moods are
heard relative to the rest of the song), fitted on synthetic songs whose sections have known moods
(``scripts/fit_mood_model.py``; its weights ship in ``audio/models/mood.json``, 10 KB). The truth side —
what a synthetic song's sections really are — is :func:`truth_moods`, read by judges only.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, NamedTuple

import numpy as np

from editor_rl.audio.features import FEATURE_NAMES
from editor_rl.errors import ConfigError, InvalidEditError

NAMED_MOODS: dict[str, tuple[float, float]] = {
    "calm": (-0.7, 0.4),
    "energetic": (0.8, 0.4),
    "dark": (-0.5, -0.7),
    "bright": (0.0, 0.85),
    "tense": (0.7, -0.6),
    "uplifting": (0.45, 0.75),
}
"""The moods a request may name, as (arousal, valence) in [-1, 1]²."""
MOOD_NAMES: tuple[str, ...] = tuple(NAMED_MOODS)
ALIGNMENT_SCALE = 1.5
"""A mean distance from the mood at which :func:`mood_alignment` reaches 0."""
MODEL_FILE = Path(__file__).resolve().parent / "models" / "mood.json"

DESCRIPTORS = ("loudness", "loudness_rise", "onset_mean", "onset_max", "centroid", "tilt", "flatness", "timbre_change",
               "contrast", "major_minor", "mode_degrees", "tension", "harmonic_change", "tempo")
"""The per-beat mood descriptors, in column order (``tempo`` is the song's, not standardised)."""


class MoodError(InvalidEditError):
    """A requested mood is unknown or outside [-1, 1]²."""


@dataclass(frozen=True)
class Mood:
    """A requested mood: a named one (``name`` set) or an arousal/valence point (``name`` empty).

    Attributes
    ----------
    name : str
        One of :data:`MOOD_NAMES`, or ``""`` for a point.
    arousal, valence : float
        In [-1, 1].
    """

    name: str
    arousal: float
    valence: float

    @property
    def point(self) -> np.ndarray:
        """(arousal, valence), shape (2,)."""
        return np.array([self.arousal, self.valence])

    def to_json(self) -> dict[str, Any]:
        """The record EDLs and HTTP answers carry."""
        return {"name": self.name, "arousal": round(self.arousal, 4), "valence": round(self.valence, 4)}


def parse_mood(value: Any) -> Mood | None:
    """A request's mood from a name, ``"A,V"`` text, a mapping (``name``, ``arousal``/``valence`` or
    both: a named mood at a listener's own point, as EDLs record it) or a Mood.

    ``None`` and ``""`` mean no mood (today's behaviour).

    Raises
    ------
    MoodError
        Naming the unknown mood or the value outside [-1, 1].
    """
    if value is None or isinstance(value, Mood):
        return value
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if text.lower() in NAMED_MOODS:
            return named_mood(text.lower())
        parts = text.split(",")
        try:
            point = [float(x) for x in parts] if len(parts) == 2 else None
        except ValueError:
            point = None
        if point is not None:
            return mood_point(arousal=point[0], valence=point[1])
        raise MoodError(f"mood {value!r} is unknown: name one of {', '.join(MOOD_NAMES)} or give 'AROUSAL,VALENCE' in [-1, 1]")
    if isinstance(value, Mapping):
        if value.get("name"):
            name = str(value["name"]).strip().lower()
            if name not in NAMED_MOODS:
                raise MoodError(f"mood {value['name']!r} is unknown: name one of {', '.join(MOOD_NAMES)}")
            if "arousal" in value and "valence" in value:  # a named mood where a listener hears it (an EDL's record)
                at = mood_point(arousal=_number(value["arousal"], "arousal"), valence=_number(value["valence"], "valence"))
                return Mood(name, at.arousal, at.valence)
            return named_mood(name)
        if "arousal" in value and "valence" in value:
            return mood_point(arousal=_number(value["arousal"], "arousal"), valence=_number(value["valence"], "valence"))
        raise MoodError(f"mood {dict(value)!r} needs a 'name' or both 'arousal' and 'valence'")
    raise MoodError(f"mood {value!r} must be a name, 'AROUSAL,VALENCE' or an object")


def _number(x: Any, field: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise MoodError(f"mood {field}={x!r} must be a number in [-1, 1]")
    return float(x)


def named_mood(name: str) -> Mood:
    """The named mood ``name`` (one of :data:`MOOD_NAMES`)."""
    if name not in NAMED_MOODS:
        raise MoodError(f"mood {name!r} is unknown: name one of {', '.join(MOOD_NAMES)}")
    a, v = NAMED_MOODS[name]
    return Mood(name, a, v)


def mood_point(*, arousal: float, valence: float) -> Mood:
    """A mood given as a point; each coordinate must lie in [-1, 1]."""
    for field, x in (("arousal", arousal), ("valence", valence)):
        if not (np.isfinite(x) and -1.0 <= x <= 1.0):
            raise MoodError(f"mood {field}={x!r} is outside [-1, 1]")
    return Mood("", float(arousal), float(valence))


# ---------------------------------------------------------------------------------------------
# The song's side: descriptors per beat and the fitted model.

_MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def _col(name: str) -> int:
    return FEATURE_NAMES.index(name)


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average along axis 0 over ``width`` beats (edges use what exists)."""
    if width <= 1 or len(x) == 0:
        return x
    kernel = np.ones(width)
    pad = np.ones(len(x))
    num = np.apply_along_axis(lambda c: np.convolve(c, kernel, mode="same"), 0, x)
    den = np.convolve(pad, kernel, mode="same")
    return num / (den[:, None] if x.ndim == 2 else den)


def _profile_corr(chroma: np.ndarray, profile: np.ndarray) -> np.ndarray:
    """Correlation of each row of ``chroma`` (n, 12) with ``profile`` rotated to every tonic: (n, 12)."""
    prof = np.stack([np.roll(profile, k) for k in range(12)])  # (12 tonics, 12)
    prof = (prof - prof.mean(axis=1, keepdims=True)) / prof.std(axis=1, keepdims=True)
    c = chroma - chroma.mean(axis=1, keepdims=True)
    c = c / np.maximum(c.std(axis=1, keepdims=True), 1e-9)
    return c @ prof.T / 12.0


def _harmony_descriptors(chroma: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per beat, over two bars: major minus minor fit at the song's own tonic, the major scale's
    third, sixth and seventh against the minor's (the degrees where the modes differ), and tension
    (the chroma's minor seconds and tritones)."""
    wide = _smooth(chroma, 8)
    whole = chroma.mean(axis=0, keepdims=True)
    tonic = int(np.argmax(np.maximum(_profile_corr(whole, _MAJOR_PROFILE), _profile_corr(whole, _MINOR_PROFILE))[0]))
    major_minor = _profile_corr(wide, _MAJOR_PROFILE)[:, tonic] - _profile_corr(wide, _MINOR_PROFILE)[:, tonic]
    share = wide / np.maximum(wide.sum(axis=1, keepdims=True), 1e-9)
    degrees = share[:, [(tonic + k) % 12 for k in (4, 9, 11)]].sum(axis=1) - share[:, [(tonic + k) % 12 for k in (3, 8, 10)]].sum(axis=1)
    tension = (share * np.roll(share, -1, axis=1)).sum(axis=1) + (share * np.roll(share, -6, axis=1)).sum(axis=1)
    return major_minor, degrees, tension


def mood_descriptors(features: np.ndarray, *, tempo_bpm: float) -> np.ndarray:
    """The per-beat descriptors of :data:`DESCRIPTORS`, smoothed over a bar.

    Parameters
    ----------
    features : np.ndarray [shape=(n_beats, 125)]
        The analysis's per-beat features.
    tempo_bpm : float

    Returns
    -------
    np.ndarray [shape=(n_beats, len(DESCRIPTORS))]
    """
    f = np.asarray(features, dtype=np.float64)
    loud = f[:, _col("rms_db_mean")]
    prev = _smooth(loud, 8)
    rise = loud - np.concatenate([prev[:1].repeat(4), prev[:-4]])[: len(loud)] if len(loud) > 4 else np.zeros_like(loud)
    logmel = f[:, _col("logmel_0") : _col("logmel_0") + 16]
    tilt = logmel[:, 12:].mean(axis=1) - logmel[:, :4].mean(axis=1)
    contrast = f[:, _col("contrast_mean_0") : _col("contrast_mean_0") + 6].mean(axis=1)
    chroma = np.maximum(f[:, _col("chroma_mean_C") : _col("chroma_mean_C") + 12], 0.0)
    major_minor, degrees, tension = _harmony_descriptors(chroma)
    cols = [loud, rise, f[:, _col("onset_mean")], f[:, _col("onset_max")], f[:, _col("centroid_mean")], tilt,
            f[:, _col("flatness_mean")], f[:, _col("timbre_novelty")], contrast]
    out = np.column_stack([_smooth(np.column_stack(cols), 4), major_minor, degrees, tension, _smooth(f[:, _col("harmonic_novelty")], 4),
                           np.full(len(f), (tempo_bpm - 120.0) / 60.0)])
    return out


def standardise(desc: np.ndarray) -> np.ndarray:
    """Descriptors standardised within the song (every column but tempo); a flat column is 0."""
    z = desc.copy()
    mean, std = desc[:, :-1].mean(axis=0), desc[:, :-1].std(axis=0)
    z[:, :-1] = (desc[:, :-1] - mean) / np.where(std > 1e-9, std, np.inf)
    return z


class MoodModel(NamedTuple):
    """A small network from standardised descriptors to (arousal, valence): ``layers`` of (weights
    (in, out), bias (out,)), ReLU between them."""

    layers: tuple[tuple[np.ndarray, np.ndarray], ...]

    def __call__(self, z: np.ndarray) -> np.ndarray:
        """Raw (arousal, valence) per row of ``z`` (n, len(DESCRIPTORS)): shape (n, 2)."""
        h = z
        for k, (w, b) in enumerate(self.layers):
            h = h @ w + b
            if k < len(self.layers) - 1:
                h = np.maximum(h, 0.0)
        return h


@functools.lru_cache(maxsize=4)
def load_model(path: str = str(MODEL_FILE)) -> MoodModel:
    """The fitted model (``audio/models/mood.json``, written by ``scripts/fit_mood_model.py``).

    Raises
    ------
    ConfigError
        The weights file is missing or was fitted on other descriptors.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"mood model weights {str(p)!r} are missing: run scripts/fit_mood_model.py")
    record = json.loads(p.read_text())
    if tuple(record.get("descriptors", ())) != DESCRIPTORS:
        raise ConfigError(f"mood model {str(p)!r} was fitted on descriptors {record.get('descriptors')!r}, not {list(DESCRIPTORS)!r}: refit it")
    return MoodModel(tuple((np.asarray(w, dtype=np.float64), np.asarray(b, dtype=np.float64)) for w, b in record["layers"]))


def predict_moods(z: np.ndarray, model: MoodModel) -> np.ndarray:
    """(arousal, valence) per beat from standardised descriptors: the model's, smoothed over two
    bars, clipped to [-1, 1]. Shape (n_beats, 2)."""
    return np.clip(_smooth(model(z), 8), -1.0, 1.0)


def beat_moods(features: np.ndarray, *, tempo_bpm: float, model: str = str(MODEL_FILE)) -> np.ndarray:
    """Every beat's estimated (arousal, valence), shape (n_beats, 2), each in [-1, 1]."""
    return predict_moods(standardise(mood_descriptors(features, tempo_bpm=tempo_bpm)), load_model(model))


# ---------------------------------------------------------------------------------------------
# Distances and the truth.

def mood_distance(moods: np.ndarray, order: np.ndarray | list, mood: Mood, *, weights: np.ndarray | None = None) -> float:
    """Mean distance in the (arousal, valence) plane between the beats an edit plays and the request.

    Parameters
    ----------
    moods : np.ndarray [shape=(n_beats, 2)]
        Per-beat (arousal, valence) of the source.
    order : sequence of int [shape=(k,)]
        Source beats in playing order.
    mood : Mood
    weights : np.ndarray [shape=(n_beats,)] or None
        Each source beat's length (seconds), so the mean is over time; ``None``: every beat alike.

    Returns
    -------
    float
        In [0, 2√2].
    """
    idx = np.asarray(order, dtype=np.int64)
    d = np.linalg.norm(moods[idx] - mood.point, axis=1)
    w = np.ones(len(idx)) if weights is None else np.asarray(weights, dtype=np.float64)[idx]
    return float((d * w).sum() / max(w.sum(), 1e-12))


def mood_alignment(distance: float) -> float:
    """How well an edit at mean ``distance`` from a mood fits it, in [0, 1]: 1 − distance / 1.5, clipped."""
    return float(np.clip(1.0 - distance / ALIGNMENT_SCALE, 0.0, 1.0))


def mood_bonus(moods: np.ndarray, mood: Mood, *, scale: float) -> np.ndarray:
    """A planner's per-beat bonus toward a mood: ``scale`` × (the song's mean distance from it − the
    beat's), shape (n_beats,): positive for beats nearer the mood than the average beat.

    Parameters
    ----------
    moods : np.ndarray [shape=(n_beats, 2)]
        Per-beat (arousal, valence).
    """
    d = np.linalg.norm(moods - mood.point, axis=1)
    return scale * (d.mean() - d)


def truth_moods(truth: Mapping[str, Any], times_s: np.ndarray) -> np.ndarray:
    """The true (arousal, valence) at each time of a synthetic song made with ``synth.moods``.

    Parameters
    ----------
    truth : mapping
        The song's ``.truth.json`` record.
    times_s : np.ndarray [shape=(k,)]

    Returns
    -------
    np.ndarray [shape=(k, 2)]

    Raises
    ------
    ConfigError
        The song was made without moods.
    """
    moods = truth.get("section_moods")
    if not moods:
        raise ConfigError(f"song seed {truth.get('seed')!r} has no section moods: make it with --set synth.moods=true")
    sections = truth["sections"]
    starts = np.array([s["start_s"] for s in sections])
    idx = np.clip(np.searchsorted(starts, np.asarray(times_s, dtype=np.float64), side="right") - 1, 0, len(sections) - 1)
    points = np.array([[moods[s["name"]]["arousal"], moods[s["name"]]["valence"]] for s in sections])
    return points[idx]
