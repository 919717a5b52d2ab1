import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from editor_rl.config import EnvConfig
from editor_rl.edit.actions import Action
from editor_rl.editors.baselines import random_policy
from editor_rl.policy.env import MusicEditEnv, obs_dim, rollout
from editor_rl.errors import InvalidEditError


@pytest.fixture(scope="module")
def songs(analyses):
    return analyses[:3]


def test_check_env_passes(songs):
    check_env(MusicEditEnv(songs), skip_render_check=True)


def test_registered_and_spaces(songs):
    env = gym.make("editor_rl/MusicEdit-v0", songs=songs)
    obs, info = env.reset(seed=0)
    assert obs["observations"].shape == (obs_dim(7),) == (7 * 125 + 23,)
    assert obs["action_mask"].shape == (9,) and set(np.unique(obs["action_mask"])) <= {0.0, 1.0}
    assert info["song_id"] in {s.song_id for s in songs}
    env.close()


def _episode(env, seed):
    obs, info = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    trace = [obs["observations"].copy()]
    while True:
        a = int(rng.choice(np.flatnonzero(obs["action_mask"])))
        obs, r, term, trunc, info = env.step(a)
        trace.append(obs["observations"].copy())
        if term or trunc:
            return np.array(trace), r, info


def test_episodes_reproducible_by_seed(songs):
    a1, r1, i1 = _episode(MusicEditEnv(songs), 7)
    a2, r2, i2 = _episode(MusicEditEnv(songs), 7)
    _, _, i3 = _episode(MusicEditEnv(songs), 8)
    assert np.array_equal(a1, a2) and r1 == r2 and i1["plan"] == i2["plan"]
    assert i1["plan"] != i3["plan"] or i1["target_seconds"] != i3["target_seconds"]


def test_final_info_has_plan_and_components(songs):
    _, r, info = _episode(MusicEditEnv(songs), 3)
    plan = info["plan"]
    assert plan.duration_s > 0 and set(info["components"]) == {"tempo", "energy", "phrase", "transition", "duration"}
    assert r == pytest.approx(info["dense_reward"])
    assert len(plan.actions) >= 1 and all(a in Action.__members__ for a in plan.actions)


def test_shaped_rewards_sum_to_terminal(songs):
    opts = {"song_index": 1, "target_seconds": 20.0}
    infos = []
    returns = []
    for mode in ("terminal", "shaped"):
        env = MusicEditEnv(songs, config=EnvConfig(reward_mode=mode))
        info, ret = rollout(env, random_policy(1.0), seed=11, options=opts)
        infos.append(info)
        returns.append(ret)
    assert infos[0]["plan"] == infos[1]["plan"]
    assert returns[0] == pytest.approx(returns[1], abs=1e-9)


def test_target_options_and_bad_targets(songs):
    env = MusicEditEnv(songs)
    _, info = env.reset(options={"song_id": songs[0].song_id, "target_seconds": 12.5})
    assert info["target_seconds"] == 12.5
    with pytest.raises(InvalidEditError, match="longer than"):
        env.reset(options={"song_index": 0, "target_seconds": 1e4})
    with pytest.raises(InvalidEditError, match="positive"):
        env.reset(options={"song_index": 0, "target_seconds": 0})
    with pytest.raises(InvalidEditError, match="song_id='nope'"):
        env.reset(options={"song_id": "nope"})


def test_masked_action_is_replaced_and_flagged(songs):
    env = MusicEditEnv(songs)
    env.reset(seed=0)
    _, _, _, _, info = env.step(int(Action.LOOP_BAR))  # nothing played yet: masked
    assert info["invalid_action"] == "LOOP_BAR"


def test_vector_env_runs(songs):
    envs = gym.vector.SyncVectorEnv([lambda: MusicEditEnv(songs) for _ in range(3)])
    obs, _ = envs.reset(seed=[1, 2, 3])
    assert obs["observations"].shape == (3, obs_dim(7))
    finished = 0
    for _ in range(400):
        masks = obs["action_mask"]
        actions = np.array([np.flatnonzero(m)[0] for m in masks])  # always the first allowed (KEEP)
        obs, r, term, trunc, info = envs.step(actions)
        finished += int(np.sum(term | trunc))
    assert finished >= 3
    envs.close()
