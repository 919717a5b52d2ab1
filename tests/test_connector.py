"""The learned-reward connector inside PPO's real learner pipeline order (phantom step first)."""

import numpy as np
from ray.rllib.connectors.learner import AddOneTsToEpisodesAndTruncate
from ray.rllib.env.single_agent_episode import SingleAgentEpisode

from editor_rl.config import PoolConfig
from editor_rl.policy.env import MusicEditEnv
from editor_rl.rewards.pool import RewardPool
from editor_rl.rl.connector import LearnedRewardConnector


def _episode(env: MusicEditEnv, seed: int) -> tuple[SingleAgentEpisode, dict]:
    """An episode of a uniform policy over the allowed actions (its log-probability recorded as the EnvRunner does)."""
    rng = np.random.default_rng(seed)
    obs, info = env.reset(seed=seed)
    ep = SingleAgentEpisode(observations=[obs], infos=[info], observation_space=env.observation_space, action_space=env.action_space)
    while True:
        allowed = np.flatnonzero(obs["action_mask"])
        a = int(rng.choice(allowed))
        logp = np.float32(-np.log(len(allowed)))
        obs, r, term, trunc, info = env.step(a)
        ep.add_env_step(obs, a, r, infos=info, terminated=term, truncated=trunc, extra_model_outputs={"action_logp": logp})
        if term or trunc:
            return ep.to_numpy(), info


def test_learned_reward_lands_on_the_last_real_step(ray_session, analyses, tiny_checkpoint, tiny_scorer):
    env = MusicEditEnv(analyses[:3])
    episodes, infos = zip(*[_episode(env, s) for s in range(4)])
    dense = [np.asarray(e.get_rewards(), np.float64).copy() for e in episodes]
    pool = RewardPool(tiny_checkpoint, config=PoolConfig(num_actors=1, num_cpus=0.5))
    try:
        shared: dict = {}
        batch = AddOneTsToEpisodesAndTruncate()(rl_module=None, batch={}, episodes=list(episodes), shared_data=shared)
        conn = LearnedRewardConnector(pool=pool, w_learned=0.8, w_dense=0.2)
        conn(rl_module=None, batch=batch, episodes=list(episodes), shared_data=shared)
    finally:
        pool.shutdown()
    raw = tiny_scorer.score([i["edit_sequence"] for i in infos])[0]
    z = (raw - raw.mean()) / (raw.std(ddof=1) + 1e-6)
    for e, d, zi in zip(episodes, dense, z):
        r = np.asarray(e.get_rewards(), np.float64)
        assert len(r) == len(d) + 1 and r[-1] == 0.0  # the phantom bootstrap step stays empty
        np.testing.assert_allclose(r[:-2], 0.2 * d[:-1], atol=1e-6)
        np.testing.assert_allclose(r[-2], 0.2 * d[-1] + 0.8 * zi, atol=1e-4)
    assert abs(z).max() > 0.1  # the edits differ, so the learned part is not empty


def test_kl_penalty_toward_the_reference_policy(analyses, tmp_path):
    import torch

    from editor_rl.config import Config
    from editor_rl.rl.dpo import new_module
    from editor_rl.policy.load import load_policy

    env = MusicEditEnv(analyses[:2])
    ref = new_module(Config(), env)
    ref.save_to_path(str(tmp_path / "ref"))
    episodes = [_episode(env, s)[0] for s in range(2)]
    dense = [np.asarray(e.get_rewards(), np.float64).copy() for e in episodes]
    shared: dict = {}
    batch = AddOneTsToEpisodesAndTruncate()(rl_module=None, batch={}, episodes=episodes, shared_data=shared)
    LearnedRewardConnector(pool=None, w_learned=0.0, w_dense=1.0, reference=str(tmp_path / "ref"), kl_coeff=0.1)(
        rl_module=None, batch=batch, episodes=episodes, shared_data=shared)
    module = load_policy(tmp_path / "ref")
    for e, d in zip(episodes, dense):
        n = len(d)
        obs = e.get_observations(slice(0, n))
        with torch.no_grad():
            logits = module.forward_inference({"obs": {k: torch.as_tensor(v) for k, v in obs.items()}})["action_dist_inputs"]
        ref_logp = torch.log_softmax(logits.double(), -1).gather(1, torch.as_tensor(e.get_actions(slice(0, n)))[:, None].long())[:, 0].numpy()
        behaviour = -np.log(obs["action_mask"].sum(axis=1))
        expected = d - 0.1 * (behaviour - ref_logp)
        np.testing.assert_allclose(np.asarray(e.get_rewards())[:n], expected, atol=1e-4)
        assert np.abs(expected - d).max() > 1e-3  # the penalty is not empty
