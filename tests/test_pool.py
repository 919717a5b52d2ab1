"""RewardPool on a real Ray instance: batching, an actor killed mid-flight, hot swap."""

import os
import signal
import threading
import time

import numpy as np
import pytest
import ray

from editor_rl.config import PoolConfig
from editor_rl.editors.baselines import baseline_edit
from editor_rl.rewards.model import load_scorer
from editor_rl.rewards.sequence import edit_sequence
from editor_rl.rewards.pool import RewardPool


@pytest.fixture(scope="module")
def sequences(analyses, config):
    out = []
    for a in analyses[:4]:
        for seed in range(10):
            plan = baseline_edit("random", a, target_seconds=0.5 * a.duration_s, config=config, seed=seed, temperature=2.0)
            out.append(edit_sequence(a, plan, target_seconds=0.5 * a.duration_s))
    return out  # 40 edits


def test_scores_match_the_model_and_batch_concurrent_calls(ray_session, tiny_checkpoint, sequences):
    pool = RewardPool(tiny_checkpoint, config=PoolConfig(num_actors=1, num_cpus=0.5, max_batch=64, max_wait_ms=250))
    try:
        expect, _ = load_scorer(tiny_checkpoint).score(sequences)
        got, stds = pool.score(sequences)
        np.testing.assert_allclose(got, expect, rtol=1e-5, atol=1e-5)
        before = pool.stats()[0]["batches"]
        refs = [pool.actors[0].score.remote([s]) for s in sequences]  # 40 concurrent single-edit calls
        answers = ray.get(refs)
        passes = pool.stats()[0]["batches"] - before
        assert passes < len(sequences) / 4, passes  # joined into a few forward passes
        np.testing.assert_allclose([a[1][0] for a in answers], expect, rtol=1e-5, atol=1e-5)
    finally:
        pool.shutdown()


def test_killed_actor_loses_no_request(ray_session, tiny_checkpoint, sequences):
    # A 300 ms batching window keeps every chunk in flight until the kill.
    pool = RewardPool(tiny_checkpoint, config=PoolConfig(num_actors=2, num_cpus=0.5, max_batch=2, max_wait_ms=300, timeout_s=30, max_retries=3))
    try:
        expect, _ = load_scorer(tiny_checkpoint).score(sequences)
        victim = pool.stats()[0]["pid"]
        result = {}

        def work():
            result["scores"] = pool.score(sequences * 5)  # 200 edits in 100 chunks over both actors

        t = threading.Thread(target=work)
        t.start()
        deadline = time.time() + 60
        while pool.submitted < 100 and time.time() < deadline:  # all 100 chunks sent, none answered yet
            time.sleep(0.005)
        assert pool.submitted >= 100
        os.kill(victim, signal.SIGKILL)  # the actor dies with its 50 chunks in flight
        t.join(timeout=120)
        assert not t.is_alive()
        got, _ = result["scores"]
        assert len(got) == 200
        np.testing.assert_allclose(got, np.tile(expect, 5), rtol=1e-5, atol=1e-5)  # each answered once, correctly
        assert pool.resent >= 1 and pool.submitted == 100 + pool.resent
        deadline = time.time() + 60
        while time.time() < deadline and pool.stats()[0].get("pid") in (None, victim):
            time.sleep(0.5)
        assert pool.stats()[0]["pid"] not in (None, victim)  # Ray restarted it
    finally:
        pool.shutdown()


def test_hot_swap_without_restart_and_stale_actor_heals(ray_session, tiny_checkpoint, tiny_scorer, sequences, tmp_path):
    pool = RewardPool(tiny_checkpoint, config=PoolConfig(num_actors=1, num_cpus=0.5))
    try:
        pid = pool.stats()[0]["pid"]
        import torch

        shifted = load_scorer(tiny_checkpoint)
        with torch.no_grad():
            shifted.model.bias += 1.0
        v2 = shifted.save(tmp_path / "v2.pt")
        old, _ = pool.score(sequences[:8])
        assert pool.swap(v2) == 2
        new, _ = pool.score(sequences[:8])
        assert pool.stats()[0]["pid"] == pid and pool.stats()[0]["version"] == 2
        assert (new != old).all()
        np.testing.assert_allclose(new, shifted.score(sequences[:8])[0], rtol=1e-5, atol=1e-5)
        os.kill(pid, signal.SIGKILL)  # comes back with the v1 weights it was created with…
        again, _ = pool.score(sequences[:8])  # …and is updated before it answers (the pool waits for it, within its deadline)
        np.testing.assert_allclose(again, new, rtol=1e-5, atol=1e-5)
    finally:
        pool.shutdown()
