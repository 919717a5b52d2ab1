"""The policy: PPO's default torch RLModule with action masking.

The env's observation is a Dict of ``observations`` and ``action_mask``; the networks see only
``observations``, and masked actions get a logit of ``FLOAT_MIN`` so they are never sampled (the
pattern of RLlib's ``action_masking_rlm`` example, kept here so it does not move under us).
"""

from __future__ import annotations

import gymnasium as gym
import torch
from ray.rllib.algorithms.ppo.torch.default_ppo_torch_rl_module import DefaultPPOTorchRLModule
from ray.rllib.core.columns import Columns
from ray.rllib.core.models.base import ENCODER_OUT
from ray.rllib.utils.torch_utils import FLOAT_MIN


class MaskedPPOModule(DefaultPPOTorchRLModule):
    """PPO torch module over ``obs["observations"]`` with ``obs["action_mask"]`` applied to the logits."""

    def __init__(self, *, observation_space: gym.spaces.Dict | None = None, **kwargs) -> None:
        if not isinstance(observation_space, gym.spaces.Dict) or "action_mask" not in observation_space.spaces:
            raise ValueError(f"MaskedPPOModule needs a Dict observation space with 'observations' and 'action_mask', got {observation_space}")
        self.observation_space_with_mask = observation_space
        super().__init__(observation_space=observation_space["observations"], **kwargs)

    def setup(self) -> None:
        super().setup()
        self.observation_space = self.observation_space_with_mask

    @staticmethod
    def _split(batch: dict) -> tuple[torch.Tensor, dict]:
        obs = batch[Columns.OBS]
        mask = obs["action_mask"]
        batch = dict(batch)
        batch[Columns.OBS] = obs["observations"]
        return mask, batch

    @staticmethod
    def _mask(out: dict, mask: torch.Tensor) -> dict:
        out[Columns.ACTION_DIST_INPUTS] = out[Columns.ACTION_DIST_INPUTS] + torch.clamp(torch.log(mask), min=FLOAT_MIN)
        return out

    def _forward_inference(self, batch: dict, **kwargs) -> dict:
        """The masked logits from the actor's path alone (PPO's default forward runs the critic's
        encoder too, which inference never reads)."""
        mask, batch = self._split(batch)
        enc = self.encoder
        with torch.no_grad():
            if self.is_stateful() or not hasattr(enc, "actor_encoder"):
                return self._mask(super()._forward_inference(batch, **kwargs), mask)
            return self._mask({Columns.ACTION_DIST_INPUTS: self.pi(enc.actor_encoder(batch)[ENCODER_OUT])}, mask)

    def _forward_exploration(self, batch: dict, **kwargs) -> dict:
        mask, batch = self._split(batch)
        return self._mask(super()._forward_exploration(batch, **kwargs), mask)

    def _forward_train(self, batch: dict, **kwargs) -> dict:
        mask, batch = self._split(batch)
        return self._mask(super()._forward_train(batch, **kwargs), mask)

    def compute_values(self, batch: dict, embeddings=None):
        if isinstance(batch[Columns.OBS], dict):
            _, batch = self._split(batch)
        return super().compute_values(batch, embeddings)
