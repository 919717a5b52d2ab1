"""Song structure: sections, their classes and the hook, from how each phrase sounds.

All from the per-beat features and phrase positions of an analysis (no second pass over the audio):

1. **phrases**: the phrase starts (``phrase_pos == 0``) cut the song into phrases — the unit
   sections are made of (a section starts on a phrase, in songs as in the synthetic ones);
2. **how a phrase sounds**: its mean loudness (mean and peak), onset strength (mean and peak),
   brightness (centroid), flatness and the seven spectral-contrast bands (:data:`SOUND`),
   standardised over the song — what changes between a verse, a chorus and a bridge (energy,
   density, the instruments' spectrum), not the chords, which change inside a section;
3. **classes**: the phrases are clustered (Ward's linkage, cut at :data:`WARD_THRESHOLD` per
   √dimension) — phrases that sound alike share a class, wherever they are in the song;
4. **sections**: each run of consecutive phrases of one class is a section; a class change is a
   boundary;
5. **hook**: the loudest class that recurs (in two sections or more; the loudest class if none
   does): the chorus of most songs.

On 20 synthetic songs (true sections known; ``bench/bench_structure.py``) the boundaries score
F = 0.956 at ±1 bar and the hook overlaps the true chorus with IoU 0.758; the threshold and the
hook rule were chosen on 20 other synthetic songs (seeds 800 000 +), BENCHMARKS.md has the table.
The recurrence-matrix method before it (Serrà et al. 2012, on bars) scored 0.591 / 0.382. Real
recordings have no reference sections here: nothing is measured on them yet.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage

from editor_rl.audio.features import FEATURE_NAMES

SOUND = ("rms_db_mean", "rms_db_max", "onset_mean", "onset_max", "centroid_mean", "flatness_mean") + tuple(f"contrast_mean_{i}" for i in range(7))
"""The per-beat features a phrase's sound is described by."""
WARD_THRESHOLD = 5.5 / 4
"""Ward linkage distance, per √(number of :data:`SOUND` features), below which phrases share a class."""
_SOUND = [FEATURE_NAMES.index(n) for n in SOUND]
_RMS = FEATURE_NAMES.index("rms_db_mean")


class Structure(NamedTuple):
    """A song's sections, per beat.

    Attributes
    ----------
    section : np.ndarray [shape=(n_beats,), dtype=int64]
        Index of the section each beat is in (0, 1, … in time order).
    label : np.ndarray [shape=(n_beats,), dtype=int64]
        Repetition class of that section (sections that sound alike share one).
    hook : np.ndarray [shape=(n_beats,), dtype=bool]
        Beats in the hook's class.
    starts : np.ndarray [shape=(n_sections,), dtype=int64]
        First beat of each section.
    """

    section: np.ndarray
    label: np.ndarray
    hook: np.ndarray
    starts: np.ndarray

    @property
    def n_sections(self) -> int:
        """Number of sections."""
        return int(len(self.starts))


def _units(phrase_pos: np.ndarray) -> np.ndarray:
    """First beat of each phrase (beat 0 always starts one)."""
    starts = np.flatnonzero(np.asarray(phrase_pos) == 0)
    return starts if len(starts) and starts[0] == 0 else np.r_[0, starts].astype(np.int64)


def phrase_classes(sound: np.ndarray) -> np.ndarray:
    """Class of each phrase from how it sounds (Ward's linkage, see the module docstring).

    Parameters
    ----------
    sound : np.ndarray [shape=(n_phrases, len(SOUND))]
        Per-phrase means of the :data:`SOUND` features.

    Returns
    -------
    np.ndarray [shape=(n_phrases,), dtype=int64]
        0, 1, … per class.
    """
    if len(sound) < 2:
        return np.zeros(len(sound), dtype=np.int64)
    z = (sound - sound.mean(axis=0)) / (sound.std(axis=0) + 1e-6)
    return (fcluster(linkage(z, "ward"), WARD_THRESHOLD * np.sqrt(z.shape[1]), "distance") - 1).astype(np.int64)


def song_structure(features: np.ndarray, phrase_pos: np.ndarray) -> Structure:
    """Sections, classes and the hook of a song (see the module docstring).

    Parameters
    ----------
    features : np.ndarray [shape=(n_beats, 125)]
        Per-beat features (``FEATURE_NAMES``).
    phrase_pos : np.ndarray [shape=(n_beats,)]
        Position of each beat in its phrase (0 = the phrase's first beat).

    Returns
    -------
    Structure
    """
    n_beats = len(features)
    units = _units(phrase_pos)
    ends = np.r_[units[1:], n_beats]
    sound = np.stack([features[s:e, _SOUND].mean(axis=0) for s, e in zip(units, ends)]).astype(np.float64)
    classes = phrase_classes(sound)
    first = [0] + [k for k in range(1, len(classes)) if classes[k] != classes[k - 1]]
    starts = units[first].astype(np.int64)
    section = np.searchsorted(starts, np.arange(n_beats), side="right") - 1
    label = classes[np.searchsorted(units, np.arange(n_beats), side="right") - 1]
    kinds = np.unique(classes)
    loud = np.array([features[label == c, _RMS].mean() for c in kinds])
    recurs = np.array([len(np.unique(section[label == c])) >= 2 for c in kinds])
    hook = kinds[int(np.argmax(np.where(recurs if recurs.any() else True, loud, -np.inf)))]
    return Structure(section=section.astype(np.int64), label=label.astype(np.int64), hook=label == hook, starts=starts)
