"""Dense reward components on crafted cases."""

import numpy as np
import pytest

from conftest import make_analysis
from editor_rl.audio.features import FEATURE_NAMES
from editor_rl.config import RewardConfig
from editor_rl.rewards import dense

RMS = FEATURE_NAMES.index("rms_db_mean")
CHROMA = [FEATURE_NAMES.index(f"chroma_mean_{p}") for p in ("C", "E", "G", "A")]


def song_with_sections(rng):
    """32 beats: bars 0-3 a quiet 'verse' (C-ish), bars 4-7 a loud 'chorus' (A-ish), plus noise."""
    f = rng.normal(0, 0.05, size=(32, 125)).astype(np.float32)
    f[:, RMS] = -20.0
    f[16:, RMS] = -6.0
    f[:16, CHROMA[0]] += 1.0
    f[16:, CHROMA[3]] += 1.0
    return make_analysis(n_bars=8, features=f)


def test_cut_on_downbeat_scores_above_mid_bar(rng):
    t = dense.song_tables(song_with_sections(rng))
    on_bar = dense.seam_scores(t, 7, 24)  # leave at a phrase end, land on a phrase start
    bar_only = dense.seam_scores(t, 3, 12)  # leave at a bar end, land on a bar start
    mid_bar = dense.seam_scores(t, 4, 10)  # leave and land mid-bar
    assert on_bar[2] > mid_bar[2]
    assert on_bar[2] == pytest.approx(1.0) and bar_only[2] == pytest.approx(0.7) and mid_bar[2] == 0.0


def test_similar_seam_scores_above_chorus_to_silence(rng):
    t = dense.song_tables(song_with_sections(rng))
    similar = dense.seam_scores(t, 3, 8)  # verse → verse
    jarring = dense.seam_scores(t, 11, 24)  # verse → middle of the loud chorus
    assert similar[3] > jarring[3]  # transition (look-ahead similarity)
    assert similar[1] > jarring[1]  # energy (a 14 dB jump)


def test_tempo_change_is_penalised():
    a = make_analysis(n_bars=8)
    beats = a.beats_s.copy()
    beats[16:] = beats[16] + np.arange(16) * 60 / 150  # second half at 150 BPM
    b = type(a)(**{**a.__dict__, "beats_s": beats})
    t = dense.song_tables(b)
    assert dense.seam_scores(t, 3, 8)[0] == pytest.approx(1.0)
    assert dense.seam_scores(t, 3, 24)[0] < 0.2  # 120 → 150 BPM


def test_scores_broadcast_and_stay_in_unit_interval(rng):
    t = dense.song_tables(song_with_sections(rng))
    s = dense.seam_scores(t, np.arange(31)[:, None], np.arange(32)[None, :])
    assert s.shape == (31, 32, 4) and (s >= 0).all() and (s <= 1).all()


def test_components_duration_and_total(rng):
    a = song_with_sections(rng)
    t = dense.song_tables(a)
    whole = dense.components(t, list(range(32)), out_seconds=16.0, target_seconds=16.0)
    assert whole == dense.DenseComponents(1.0, 1.0, 1.0, 1.0, 1.0)
    half = dense.components(t, list(range(16)), out_seconds=8.0, target_seconds=16.0)
    assert half.duration == 0.0 and half.phrase == pytest.approx(0.9)  # ends with a fade at a phrase end
    assert dense.total(whole, RewardConfig()) == pytest.approx(1.0)
    assert dense.duration_score(10.1, 10.0) == 1.0 and dense.duration_score(12.0, 10.0) < 0.5


def test_running_potential_equals_batch_components(rng):
    a = song_with_sections(rng)
    t = dense.song_tables(a)
    order = [0, 1, 2, 3, 8, 9, 10, 11, 11, 24, 25, 26, 27]
    run = dense.RunningDense(t, target_seconds=6.0, weights=RewardConfig())
    for b in order:
        run.add(b, 0.5)
    batch = dense.components(t, order, out_seconds=6.5, target_seconds=6.0)
    assert np.allclose(run.components(), batch)
    assert run.potential() == pytest.approx(dense.total(batch, RewardConfig()))
