"""madmom's downbeat tracker computed faster (:mod:`editor_rl.audio.madmom_fast`) against madmom's own
code: each stage within float32 rounding, the decoded beats and bar positions equal."""

import numpy as np
import pytest

from editor_rl.audio import madmom_fast, madmom_tracker
from editor_rl.audio.io import decode_audio, to_analysis_signal


@pytest.fixture(scope="module")
def madmom():
    """madmom's own processors: features, the 8-network ensemble and the 4/4 DBN."""
    downbeats = madmom_tracker.import_downbeats()
    pre, ensemble, _ = downbeats.RNNDownBeatProcessor().processors
    return pre, ensemble, downbeats.DBNDownBeatTrackingProcessor(beats_per_bar=[4], fps=madmom_tracker.FPS)


@pytest.fixture(scope="module")
def signal(synth_corpus) -> np.ndarray:
    """25 s of a synthetic song at madmom's rate, mono float32."""
    y = to_analysis_signal(decode_audio(synth_corpus[1]), sample_rate=madmom_tracker.SAMPLE_RATE)
    return np.ascontiguousarray(y[: 25 * madmom_tracker.SAMPLE_RATE], dtype=np.float32)


def test_spectra_equal_madmoms_features(madmom, signal):
    pre, _, _ = madmom
    ours = madmom_fast.Spectra(pre)(signal)
    theirs = np.asarray(pre(signal))
    assert ours.shape == theirs.shape == (-(-len(signal) // madmom_fast.HOP), 314)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5)
    # a length that is not a whole number of hops, and shorter than the largest frame
    short = signal[: 3000]
    np.testing.assert_allclose(madmom_fast.Spectra(pre)(short), np.asarray(pre(short)), rtol=0, atol=1e-5)


def test_ensemble_equals_madmoms_networks(madmom, signal):
    pre, ensemble, _ = madmom
    from madmom.ml.nn import NeuralNetwork
    from madmom.models import DOWNBEATS_BLSTM

    features = np.asarray(pre(signal))
    ours = madmom_fast.Ensemble([NeuralNetwork.load(f) for f in DOWNBEATS_BLSTM])(features)
    theirs = np.asarray(ensemble(features))
    assert ours.shape == theirs.shape == (len(features), 3)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=2e-4)  # tanh by a rational approximation: a few ulp a step
    two = madmom_fast.Ensemble([NeuralNetwork.load(f) for f in DOWNBEATS_BLSTM[:2]])(features)
    assert np.abs(two - theirs).max() > 1e-3  # fewer networks is another average


def test_viterbi_finds_madmoms_path(madmom, signal, rng):
    pre, ensemble, dbn = madmom
    activations = np.asarray(ensemble(pre(signal)))[:, 1:]
    noise = rng.uniform(0, 0.5, size=(1500, 2)).astype(np.float32)  # no beat to follow: near-ties everywhere
    for hmm in dbn.hmms:
        fast = madmom_fast.ViterbiHMM(hmm)
        for obs in (activations, noise, activations[:40]):
            path, log_p = fast.viterbi(obs)
            want_path, want_log_p = hmm.viterbi(obs)
            assert log_p == want_log_p and np.array_equal(path, want_path) and path.dtype == want_path.dtype


def test_viterbi_refuses_a_model_that_is_not_a_bar_pointer(madmom):
    from madmom.ml.hmm import HiddenMarkovModel, TransitionModel

    _, _, dbn = madmom
    om = dbn.hmms[0].observation_model
    n = len(om.pointers)
    # state 0 follows two states, every other state one: the state five after it, not the one before
    states = np.array([1, 2] + [(s + 5) % n for s in range(1, n)], np.uint32)
    pointers = np.array([0] + list(range(2, n + 2)), np.uint32)
    tm = TransitionModel(states, pointers, np.array([0.5, 0.5] + [1.0] * (n - 1)))
    with pytest.raises(ValueError, match="not a bar-pointer transition model"):
        madmom_fast.ViterbiHMM(HiddenMarkovModel(tm, om))


def test_track_gives_madmoms_beats_and_bar_lines(madmom, signal):
    pre, ensemble, dbn = madmom
    want = np.asarray(dbn(np.asarray(ensemble(pre(signal)))[:, 1:])).reshape(-1, 2)
    beats_s, bar_pos = madmom_tracker.track(signal, beats_per_bar=4)
    assert len(want) > 20
    np.testing.assert_array_equal(beats_s, want[:, 0])
    np.testing.assert_array_equal(bar_pos, want[:, 1].astype(np.int64) - 1)


def test_warm_up_loads_both_of_autos_trackers(config):
    """A server's warm-up loads madmom's tracker too (``auto``'s fallback), so the first unsure song is
    not also the one that loads and compiles it."""
    from editor_rl.audio.analysis import warm_up

    assert config.beats.tracker == "auto"
    madmom_tracker._tracker.cache_clear()
    warm_up(config=config)
    assert madmom_tracker._tracker.cache_info().currsize == 1
