"""What a listener hears in a song, independent of the analysis a model learns from.

Simulated judges must not hear the song through the project's own analysis (they would hear its
mistakes as right). They hear it through one of two sources, in this order:

- the **truth file** of a synthetic song (``<song>.truth.json`` beside it, written by
  :mod:`editor_rl.audio.synth`): its true beats, bar lines, phrases and sections;
- **reference annotations** of a recording: madmom's RNN + DBN beats and bar lines (the field's
  reference tracker), computed once per file and cached as ``<cache>/<sha256 of the file>.json``
  (the format ``bench/reference_trackers.py`` has always written, so existing caches are reused).

:func:`heard_song` returns them as a :class:`Heard` record; ``None`` when a song has neither
(judging then falls back to the analysis, and says so in its ``source``).
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np


class Heard(NamedTuple):
    """A song as a listener hears it.

    Attributes
    ----------
    beats_s : np.ndarray [shape=(n,)]
        Beat times, seconds.
    downbeats_s : np.ndarray [shape=(d,)]
        Bar starts, seconds.
    phrase_starts_s : np.ndarray [shape=(p,)]
        Phrase starts, seconds (references: every fourth bar from the first).
    sections : tuple of (name, start_s, end_s)
        Labelled sections (empty for a reference: madmom finds no sections).
    duration_s : float
    source : str
        ``"truth"`` or ``"reference"``.
    """

    beats_s: np.ndarray
    downbeats_s: np.ndarray
    phrase_starts_s: np.ndarray
    sections: tuple
    duration_s: float
    source: str


def truth_file(path: str | Path) -> Path:
    """Where a synthetic song's truth file would be."""
    return Path(path).with_suffix(".truth.json")


def reference_file(path: str | Path, *, cache_dir: str | Path) -> Path:
    """Where a recording's cached reference annotations are (keyed by the file's bytes)."""
    return Path(cache_dir) / f"{hashlib.sha256(Path(path).read_bytes()).hexdigest()}.json"


def activations_file(path: str | Path, *, cache_dir: str | Path) -> Path:
    """Where madmom's frame activations of a recording are kept beside its reference (when asked for)."""
    return reference_file(path, cache_dir=cache_dir).with_suffix(".act.npy")


def madmom_reference(path: str | Path, *, cache_dir: str | Path, keep_activations: bool = False) -> dict:
    """madmom's RNN + DBN beats of a file (3/4 or 4/4 bars), computed once and cached.

    With ``keep_activations`` madmom's frame activations are kept too (:func:`activations_file`:
    float16, shape (frames, 2) — beat, downbeat — at 100 frames/s): the learned tracker is
    distilled from them. A cached reference without them is computed again.

    Returns
    -------
    dict
        ``{"beats": [s], "position": [1 = downbeat, 2, …], "seconds": compute time, "duration_s"}``.

    Raises
    ------
    ConfigError
        madmom is not installed (and the file is not cached).
    """
    cached = reference_file(path, cache_dir=cache_dir)
    acts = cached.with_suffix(".act.npy")
    if cached.is_file() and (acts.is_file() or not keep_activations):
        return json.loads(cached.read_text())
    import librosa

    from editor_rl.audio.madmom_tracker import SAMPLE_RATE, import_downbeats

    downbeats = import_downbeats()
    y, sr = librosa.load(str(path), sr=SAMPLE_RATE, mono=True)
    t0 = time.perf_counter()
    act = downbeats.RNNDownBeatProcessor()(y.astype(np.float32))
    out = downbeats.DBNDownBeatTrackingProcessor(beats_per_bar=[3, 4], fps=100)(act)
    d = {"beats": out[:, 0].tolist(), "position": out[:, 1].astype(int).tolist(), "seconds": time.perf_counter() - t0, "duration_s": len(y) / sr}
    cached.parent.mkdir(parents=True, exist_ok=True)
    if keep_activations:
        with open(acts.with_suffix(".tmp"), "wb") as f:
            np.save(f, np.asarray(act, np.float16))
        acts.with_suffix(".tmp").replace(acts)
    tmp = cached.with_suffix(".tmp")
    tmp.write_text(json.dumps(d))
    tmp.replace(cached)
    return d


def heard_song(path: str | Path, *, references: str | Path | None = None, compute: bool = False) -> Heard | None:
    """The song at ``path`` as a listener hears it (see the module docstring), or None.

    Parameters
    ----------
    path : str or Path
        The audio file.
    references : str or Path or None
        The reference annotations' cache folder (e.g. ``.cache/madmom``); None: truth files only.
    compute : bool
        Run madmom for a recording that is not cached yet (about 1/8 of real time per core).
    """
    truth = truth_file(path)
    if truth.is_file():
        t = json.loads(truth.read_text())
        sections = tuple((s["name"], float(s["start_s"]), float(s["end_s"])) for s in t.get("sections", []))
        return Heard(np.asarray(t["beats_s"], float), np.asarray(t["downbeats_s"], float), np.asarray(t["phrase_starts_s"], float),
                     sections, float(t["duration_s"]), "truth")
    if references is None or not Path(path).is_file():
        return None
    if not compute and not reference_file(path, cache_dir=references).is_file():
        return None
    d = madmom_reference(path, cache_dir=references)
    beats, pos = np.asarray(d["beats"], float), np.asarray(d["position"], int)
    downbeats = beats[pos == 1]
    return Heard(beats, downbeats, downbeats[::4], (), float(d["duration_s"]), "reference")
