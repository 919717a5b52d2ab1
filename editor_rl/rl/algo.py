"""PPOConfig for editor-rl, built by chained methods from our :class:`~editor_rl.config.Config`.

N EnvRunners × M envs, whole episodes (``batch_mode="complete_episodes"``), the action-masking
module, the learned-reward connector first in the learner pipeline, and fault tolerance on
(failed EnvRunners restart after ``restart_delay_s``).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Sequence

import gymnasium as gym
import numpy as np
import ray
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.tune.registry import register_env

from editor_rl.config import Config
from editor_rl.corpus.store import FeatureStore, load_corpus
from editor_rl.policy.env import MusicEditEnv
from editor_rl.rewards.pool import RewardPool
from editor_rl.rl.connector import LearnedRewardConnector
from editor_rl.rl.module import MaskedPPOModule

ENV_NAME = "editor_rl_music_edit"


@functools.lru_cache(maxsize=4)
def _songs(paths: tuple[str, ...], store_dir: str, config: Config) -> list:
    return list(load_corpus(paths, store=FeatureStore(store_dir), config=config).values())


class DistinctSeededResets(gym.Wrapper):
    """Make every seeded reset a new episode: the k-th reset with seed ``s`` uses seed ``(s, k)``.

    With ``batch_mode="complete_episodes"`` RLlib 2.60's EnvRunner re-resets its envs with the
    run's seed on every ``sample()`` call, so without this every call would replay the same songs
    and targets (training on ``num_envs`` episodes forever). Runs stay reproducible.
    """

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._resets = getattr(self, "_resets", -1) + 1
            seed = int(np.random.SeedSequence([seed, self._resets]).generate_state(1)[0])
        return self.env.reset(seed=seed, options=options)


def make_env(env_config: dict) -> gym.Env:
    """Env creator for RLlib: ``env_config`` holds ``config`` (a Config) and ``songs`` (paths)."""
    cfg: Config = env_config["config"]
    songs = _songs(tuple(env_config["songs"]), cfg.corpus.store_dir, cfg)
    return DistinctSeededResets(MusicEditEnv(songs, config=cfg.env, reward=cfg.reward, search=cfg.search))


register_env(ENV_NAME, make_env)


def learner_gpus(rl) -> float:
    """GPUs of the PPO learner: ``rl.learner_gpus``, or for -1 (auto) one when the connected Ray
    cluster has a GPU (0 without Ray started)."""
    if rl.learner_gpus != -1:
        return float(rl.learner_gpus)
    return 1.0 if ray.is_initialized() and ray.cluster_resources().get("GPU", 0) >= 1 else 0.0


def build_ppo_config(config: Config, *, songs: Sequence[str | Path], pool: RewardPool | None, reward_id: str = "") -> PPOConfig:
    """The PPOConfig for ``config`` training on ``songs`` (analysed into the feature store).

    Parameters
    ----------
    config : Config
        ``config.rl`` shapes PPO; ``config.env``/``config.reward`` the env.
    songs : sequence of path
        Audio files whose analyses are in ``config.corpus.store_dir``.
    pool : RewardPool or None
        The learned reward (None: dense reward only).
    reward_id : str
        Identity of the pool's reward checkpoint (kept with the connector's statistics).
    """
    rl = config.rl
    song_paths = [str(Path(p).resolve()) for p in songs]
    w_learned = rl.w_learned if pool is not None else 0.0
    w_dense = rl.w_dense if pool is not None else 1.0
    return (
        PPOConfig()
        .environment(ENV_NAME, env_config={"config": config, "songs": song_paths})
        .env_runners(
            num_env_runners=rl.num_env_runners,
            num_envs_per_env_runner=rl.envs_per_env_runner,
            num_cpus_per_env_runner=rl.env_runner_cpus,
            batch_mode="complete_episodes",
            rollout_fragment_length="auto",
        )
        .training(
            train_batch_size_per_learner=rl.train_batch_size,
            minibatch_size=rl.minibatch_size,
            num_epochs=rl.num_epochs,
            lr=rl.lr,
            gamma=rl.gamma,
            entropy_coeff=rl.entropy_coeff,
        )
        .learners(num_gpus_per_learner=learner_gpus(rl), learner_connector=lambda obs_space, act_space: LearnedRewardConnector(pool=pool, w_learned=w_learned, w_dense=w_dense,
                                                                                                 reference=rl.init_policy, kl_coeff=rl.kl_coeff,
                                                                                                 uncertainty_penalty=rl.uncertainty_penalty, reward_id=reward_id))
        .rl_module(rl_module_spec=RLModuleSpec(module_class=MaskedPPOModule, model_config={"fcnet_hiddens": list(rl.hidden), "vf_share_layers": False}))
        .fault_tolerance(restart_failed_env_runners=True, delay_between_env_runner_restarts_s=rl.restart_delay_s)
        .debugging(seed=rl.seed)
    )
