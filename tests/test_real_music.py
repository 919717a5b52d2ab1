"""Real recordings (Debian's game-music packages, scripts/fetch_real_music.sh): analysis, the length
promise for every editor, and clean renders at the cuts."""

import numpy as np
import pytest

from editor_rl.editors.baselines import BASELINES, baseline_edit
from editor_rl.config import Config
from editor_rl.corpus.store import FeatureStore, list_songs, load_corpus
from editor_rl.search.promise import keeps_promise

TARGET_RATIOS = (0.2, 0.4, 0.6, 0.8)


@pytest.fixture(scope="module")
def real(real_music, tmp_path_factory):
    """Analyses of real tracks up to 4 minutes: 3 training tracks and every held-out one of that length."""
    import soundfile as sf

    store = FeatureStore(tmp_path_factory.mktemp("real-features"))
    short = lambda paths: [p for p in paths if sf.info(str(p)).duration <= 240]  # noqa: E731
    train = load_corpus(short(list_songs(real_music / "train"))[::9][:3], store=store, config=Config())
    heldout = load_corpus(short(list_songs(real_music / "heldout")), store=store, config=Config())
    return train, heldout


def test_real_tracks_are_analysed_with_bars_and_phrases(real):
    train, heldout = real
    assert len(heldout) >= 8 and len({k.split("-")[0] for k in heldout}) >= 4  # several packages
    for a in list(train.values()) + list(heldout.values()):
        assert a.n_beats >= 32 and 55 <= a.tempo_bpm <= 215  # madmom's tempo range (auto hands unsure songs to it)
        assert (a.bar_pos == 0).sum() >= a.n_beats // 4 - 1 and (a.phrase_pos == 0).sum() >= 2


def test_every_edit_keeps_the_length_promise_on_real_recordings(real, tmp_path):
    from editor_rl.policy.rollouts import policy_edits
    from editor_rl.rl.bc import train_bc
    from editor_rl.rl.dpo import new_module
    from editor_rl.policy.env import MusicEditEnv
    from editor_rl.policy.load import load_policy

    train, heldout = real
    cfg = Config()
    bc = load_policy(train_bc(train, config=cfg, out_dir=tmp_path / "bc", edits_per_song=4, epochs=4, log=lambda m: None)["checkpoint"])
    untrained = new_module(cfg, MusicEditEnv(list(train.values()), config=cfg.env))  # the worst case: a policy that has learned nothing
    jobs = [(a, r * a.duration_s) for a in heldout.values() for r in TARGET_RATIOS]
    misses, repaired = [], 0
    for name, module, temperature in (("trained t=0", bc, 0.0), ("trained t=1", bc, 1.0), ("untrained t=1", untrained, 1.0)):
        plans = policy_edits(module, [(a, t, temperature, k) for k, (a, t) in enumerate(jobs)], config=cfg)
        for (a, t), p in zip(jobs, plans):
            repaired += bool(p.repair)
            if not keeps_promise(p.duration_s, t, float(np.median(np.diff(a.beats_s)))):
                misses.append((name, a.song_id, round(t, 1), round(p.duration_s, 1)))
    for name in BASELINES:
        for a, t in jobs:
            p = baseline_edit(name, a, target_seconds=t, config=cfg, seed=1)
            if not keeps_promise(p.duration_s, t, float(np.median(np.diff(a.beats_s)))):
                misses.append((name, a.song_id, round(t, 1), round(p.duration_s, 1)))
    assert not misses, misses
    assert repaired > 0  # the untrained policy misses by itself: the planner's repairs are what keep the promise
