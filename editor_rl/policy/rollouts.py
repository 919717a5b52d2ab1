"""A trained policy edits songs: lockstep rollouts of its module, the length promise kept.

``policy_edit`` walks the song in :class:`~editor_rl.policy.env.MusicEditEnv` with the module's masked
logits: temperature 0 takes the most likely action (deterministic), a positive temperature samples
from ``softmax(logits / T)``. ``policy_edits`` makes several edits at once, one forward pass per
step for all of them (what the Serve deployment batches). Every edit is completed by the planner
where the policy misses the target (:meth:`MusicEditEnv.promised_plan`), so whatever edits songs for
a person — the CLI, ``/api/edit``, candidates, the RLHF cycle — keeps the length promise. Pure torch
and NumPy: the module comes from :func:`editor_rl.policy.load.load_policy`.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from editor_rl.audio.analysis import SongAnalysis
from editor_rl.config import Config
from editor_rl.edit.plan import EditPlan
from editor_rl.search.promise import check_target
from editor_rl.policy.env import MusicEditEnv, wants_mood
from editor_rl.errors import EditorRLError


def policy_edit(module, analysis: SongAnalysis, *, target_seconds: float, config: Config = Config(), temperature: float = 0.0, seed: int = 0) -> EditPlan:
    """Edit ``analysis`` toward ``target_seconds`` with a trained policy.

    Raises
    ------
    InvalidEditError
        Impossible target (see :func:`editor_rl.search.promise.check_target`).
    """
    return policy_edits(module, [(analysis, target_seconds, temperature, seed)], config=config)[0]


def policy_edits(module, jobs: list[tuple[SongAnalysis, float, float, int]], *, config: Config = Config(),
                 moods: list | None = None) -> list[EditPlan]:
    """Several edits at once: the envs step in lockstep and the module sees one batch per step.

    Parameters
    ----------
    module : RLModule
    jobs : list of (analysis, target_seconds, temperature, seed)
    moods : list of Mood or None, optional
        Each job's mood, for a module trained with the mood context (:func:`~editor_rl.policy.env.wants_mood`;
        a module without it edits as if no mood were asked: the moods are ignored).

    Returns
    -------
    list of EditPlan
        One per job, in order, each within the length promise (``plan.repair`` says when the
        planner had to complete it).

    Raises
    ------
    InvalidEditError
        An impossible target.
    """
    for a, target, temp, _ in jobs:
        check_target(a, target)
        if temp < 0:
            raise EditorRLError(f"temperature={temp}: must be >= 0")
    mood_ctx = wants_mood(module, config.env.window_beats)
    env_config = replace(config.env, mood_conditioning=mood_ctx)  # the module's own observation
    envs = [MusicEditEnv([a], config=env_config, reward=config.reward, search=config.search, summarize=False) for a, *_ in jobs]
    rngs = [np.random.default_rng(seed) for *_, seed in jobs]
    moods = moods if moods is not None and mood_ctx else [None] * len(jobs)
    obs = [env.reset(seed=seed, options={"song_index": 0, "target_seconds": target} | ({"mood": m} if mood_ctx else {}))[0]
           for env, (a, target, _, seed), m in zip(envs, jobs, moods)]
    plans: list[EditPlan | None] = [None] * len(jobs)
    was_training = module.training
    module.eval()  # once, not at every step as forward_inference does (it walks every submodule)
    try:
        _walk(module, envs, obs, jobs, rngs, plans)
    finally:
        module.train(was_training)
    return plans


def _walk(module, envs: list[MusicEditEnv], obs: list[dict], jobs: list, rngs: list, plans: list) -> None:
    """Step every env in lockstep until each has ended, one forward pass per step; ``plans`` gets each promised plan."""
    live = list(range(len(jobs)))
    while live:
        batch = {"obs": {"observations": torch.from_numpy(np.stack([obs[i]["observations"] for i in live])),
                         "action_mask": torch.from_numpy(np.stack([obs[i]["action_mask"] for i in live]))}}
        with torch.inference_mode():
            logits = module._forward_inference(batch)["action_dist_inputs"].double().numpy()
        still = []
        for row, i in enumerate(live):
            allowed = obs[i]["action_mask"] > 0
            z = np.where(allowed, logits[row], -np.inf)
            temp = jobs[i][2]
            if temp == 0:
                a = int(np.argmax(z))
            else:
                p = np.exp((z - z[allowed].max()) / temp)
                cdf = np.cumsum(p / p.sum())  # Generator.choice(len(p), p=...)'s own draw, without its checks
                cdf /= cdf[-1]
                a = int(cdf.searchsorted(rngs[i].random(), side="right"))
            obs[i], _, term, trunc, _ = envs[i].step(a)
            if term or trunc:
                plans[i] = envs[i].promised_plan()
            else:
                still.append(i)
        live = still
