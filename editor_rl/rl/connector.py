"""The learned reward, added where RLlib means rewards to be changed: a learner connector piece.

Once per training iteration, :class:`LearnedRewardConnector` (first in the learner pipeline, so
before GAE) takes every finished edit of the batch (each episode's final ``info["edit_sequence"]``),
scores them all in **one** batched call to the :class:`~editor_rl.rewards.pool.RewardPool`,
standardises the scores with running statistics (Welford; part of the connector's state, so a
checkpoint carries them), and rewrites each episode's rewards as

    r_t ← w_dense · r_t (the env's dense reward)  and, at the last step,  + w_learned · z(learned),

where ``learned = mean − uncertainty_penalty · spread`` over the reward model's ensemble heads: a
conservative score, lower where the heads disagree (off the data the model was trained on), which
is where a policy would otherwise find the model's mistakes and exploit them.

PPO's learner prepends ``AddOneTsToEpisodesAndTruncate``, which appends a phantom time step
(reward 0, masked out of the loss, there only to bootstrap the value) to every episode before this
piece runs; the learned reward goes on the last *real* step, never on the phantom one (where GAE
would ignore it).

With a reference policy (``rl.init_policy``, typically the behaviour-cloned search imitator) and
``rl.kl_coeff > 0``, every step also pays the per-step KL estimate of RLHF (as in InstructGPT):

    r_t ← r_t − kl_coeff · (log π(a_t|s_t) − log π_ref(a_t|s_t)),

with ``log π`` the sampling policy's log-probability recorded by the EnvRunner and ``log π_ref``
from the frozen reference module on the learner, so the policy cannot drift far from a competent
editor to exploit the reward model where it is wrong.

It logs the total return PPO optimises (``total_return_mean``) and the learned and dense parts
separately (``learned_reward_mean``, ``dense_return_mean``, ``learned_score_raw_mean``), and how
many edits it scored (``edits_scored``, ``reward_stats_count``). The pool's actor handles live in
this piece, on the learner: EnvRunner restarts never touch them.

RLlib 2.60's learner checkpoints do not carry a learner connector's state, so training saves
:func:`connector_state` next to every checkpoint and puts it back with :func:`restore_connector_state`;
the state names the reward checkpoint its statistics belong to (``reward_id``).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from ray.rllib.connectors.connector_v2 import ConnectorV2

from editor_rl.rewards.pool import RewardPool


class LearnedRewardConnector(ConnectorV2):
    """Learner connector adding the pool's learned reward to finished edits (see module docstring)."""

    def __init__(self, input_observation_space=None, input_action_space=None, *, pool: RewardPool | None, w_learned: float, w_dense: float,
                 reference: str = "", kl_coeff: float = 0.0, uncertainty_penalty: float = 0.0, reward_id: str = "", **kwargs) -> None:
        super().__init__(input_observation_space, input_action_space, **kwargs)
        self.pool = pool
        self.reward_id = reward_id
        self.w_learned, self.w_dense = w_learned, w_dense
        self.kl_coeff = kl_coeff if reference else 0.0
        self.uncertainty_penalty = uncertainty_penalty
        self.reference_path = reference
        self._reference = None
        self.count, self.mean, self.m2 = 0, 0.0, 0.0

    def _update_stats(self, x: np.ndarray) -> None:
        for v in x:  # Welford
            self.count += 1
            d = v - self.mean
            self.mean += d / self.count
            self.m2 += d * (v - self.mean)

    @property
    def std(self) -> float:
        """Running standard deviation of the raw learned scores."""
        return float(np.sqrt(self.m2 / (self.count - 1))) if self.count > 1 else 1.0

    def _kl(self, e, n: int) -> np.ndarray:
        """Per-step ``log π(a|s) − log π_ref(a|s)`` over the first ``n`` steps of episode ``e``."""
        import torch

        if self._reference is None:
            from editor_rl.policy.load import load_policy

            self._reference = load_policy(self.reference_path)
        obs = e.get_observations(slice(0, n))
        acts = torch.as_tensor(np.asarray(e.get_actions(slice(0, n))), dtype=torch.long)
        logp = np.asarray(e.get_extra_model_outputs("action_logp", slice(0, n)), dtype=np.float64)
        with torch.no_grad():
            logits = self._reference.forward_inference({"obs": {k: torch.as_tensor(np.asarray(v)) for k, v in obs.items()}})["action_dist_inputs"]
            ref = torch.log_softmax(logits.double(), dim=-1).gather(1, acts[:, None])[:, 0].numpy()
        return logp - np.maximum(ref, -20.0)

    def __call__(self, *, rl_module, batch, episodes, explore=None, shared_data=None, metrics=None, **kwargs) -> Any:
        eps = [e for e in self.single_agent_episode_iterator(episodes, agents_that_stepped_only=False)]
        finished = [e for e in eps if e.is_done and e.get_infos(-1).get("edit_sequence") is not None]
        raw = np.zeros(0)
        if self.pool is not None and self.w_learned > 0 and finished:
            mean, spread = self.pool.score([e.get_infos(-1)["edit_sequence"] for e in finished])  # one batched call
            raw = mean - self.uncertainty_penalty * spread
            self._update_stats(raw)
        z = {id(e): (s - self.mean) / (self.std + 1e-6) for e, s in zip(finished, raw)}
        phantom = 1 if (shared_data or {}).get("_added_loss_mask_for_valid_episode_ts") else 0
        dense_returns, kls, totals = [], [], []
        for e in eps:
            r = np.asarray(e.get_rewards(), dtype=np.float64)
            if len(r) <= phantom:
                continue
            dense_returns.append(float(r.sum()))
            new = self.w_dense * r
            if id(e) in z:
                new[len(r) - 1 - phantom] += self.w_learned * z[id(e)]
            if self.kl_coeff > 0:
                kl = self._kl(e, len(r) - phantom)
                new[: len(kl)] -= self.kl_coeff * kl
                kls.append(float(kl.sum()))
            with warnings.catch_warnings():  # RLlib checks each scalar reward against a Box space, which gymnasium warns about
                warnings.filterwarnings("ignore", message=".*Casting input x to numpy array")
                e.set_rewards(new_data=new.astype(np.float32), at_indices=slice(0, len(r)))
            totals.append(float(new.sum()))
        if metrics is not None and eps:
            metrics.log_value("dense_return_mean", float(np.mean(dense_returns)) if dense_returns else 0.0, window=1)
            if totals:
                metrics.log_value("total_return_mean", float(np.mean(totals)), window=1)
            if kls:
                metrics.log_value("kl_to_reference_mean", float(np.mean(kls)), window=1)
            if len(raw):
                metrics.log_value("learned_score_raw_mean", float(raw.mean()), window=1)
                metrics.log_value("learned_reward_mean", float(np.mean(list(z.values()))), window=1)
                metrics.log_value("edits_scored", len(raw), window=1)
                metrics.log_value("reward_stats_count", self.count, window=1)
        return batch

    def get_state(self, components=None, *, not_components=None, **kwargs) -> dict:
        return {"count": self.count, "mean": self.mean, "m2": self.m2, "reward_id": self.reward_id}

    def set_state(self, state: dict) -> None:
        self.count, self.mean, self.m2 = int(state.get("count", 0)), float(state.get("mean", 0.0)), float(state.get("m2", 0.0))


def _piece(learner) -> LearnedRewardConnector:
    """The learner's :class:`LearnedRewardConnector` (first in its connector pipeline)."""
    return next(c for c in learner._learner_connector.connectors if isinstance(c, LearnedRewardConnector))


def connector_state(algo) -> dict:
    """The learned-reward connector's state on the (first) learner: running statistics and ``reward_id``."""
    first = list(algo.learner_group.foreach_learner(lambda learner: _piece(learner).get_state()))[0]
    return first.get() if hasattr(first, "get") and not isinstance(first, dict) else first


def restore_connector_state(algo, state: dict) -> None:
    """Put a saved connector state back on every learner (statistics of the same reward model)."""
    algo.learner_group.foreach_learner(lambda learner: _piece(learner).set_state(state))
