"""Behaviour cloning: a starting policy that imitates the search baseline's edits (and, with
:func:`clone`, any demonstrated edits: the RLHF cycle's expert iteration clones the new reward
model's favourites).

The search baseline's edits (for random targets of 35–80 % of each training song) are replayed
through :class:`~editor_rl.policy.env.MusicEditEnv` — with ``env.mood_conditioning``, a share
(``env.mood_probability``) of them are the search steered toward a named mood, replayed in an
episode asking for it — and the policy network is fitted to their actions by
cross-entropy on the masked logits. The result is an RLModule checkpoint: PPO can start from it
(``rl.init_policy``) and DPO can use it as its reference — the supervised stage before RL that RLHF
pipelines use, so RL refines a competent editor instead of discovering editing from scratch.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Mapping, NamedTuple, Sequence

import numpy as np
import torch
from torch.nn import functional as F

from editor_rl.audio.analysis import SongAnalysis
from editor_rl.config import Config
from editor_rl.audio.mood import MOOD_NAMES, named_mood
from editor_rl.editors.baselines import search_edit
from editor_rl.editors.mood import mood_search_edits
from editor_rl.edit.plan import EditPlan
from editor_rl.policy.env import MusicEditEnv
from editor_rl.errors import EditorRLError
from editor_rl.preferences.records import Candidate
from editor_rl.rl.dpo import new_module, replay


class Demonstrations(NamedTuple):
    """Replayed edits: every step's observation, action mask and the action taken, and how many edits."""

    observations: torch.Tensor
    masks: torch.Tensor
    actions: torch.Tensor
    edits: int


def demonstrations(env: MusicEditEnv, demos: Sequence[tuple]) -> Demonstrations:
    """Replay ``(song index, target seconds, plan[, mood])`` demos through ``env``; those the env cannot replay are skipped.

    Raises
    ------
    EditorRLError
        None of them could be replayed.
    """
    O, M, A = [], [], []
    for i, target, plan, *mood in demos:
        t = replay(env, i, Candidate("demo", plan.to_edl()), target_seconds=target, mood=mood[0] if mood else None)
        if t is not None:
            O.append(t.observations)
            M.append(t.masks)
            A.append(t.actions)
    if not O:
        raise EditorRLError(f"none of {len(demos)} demonstrated edits could be replayed")
    obs, mask, acts = (torch.from_numpy(np.concatenate(x)) for x in (O, M, A))
    return Demonstrations(obs, mask, acts, len(O))


def clone(module, demos: Demonstrations, *, epochs: int, lr: float, batch_steps: int, smoothing: float, seed: int,
          say: Callable[[str], None], what: str = "bc") -> list[dict]:
    """Fit ``module`` (in place) to the demonstrated actions by cross-entropy on the masked logits.

    The targets put ``1 − smoothing`` on the demonstrated action and spread ``smoothing`` over the
    allowed actions, so the policy still tries other actions now and then.

    Returns
    -------
    list of dict
        Per epoch: ``{"epoch", "loss", "accuracy"}``.
    """
    obs, mask, acts = demos.observations, demos.masks, demos.actions
    rng = np.random.default_rng(seed)
    module.train()
    opt = torch.optim.Adam(module.parameters(), lr=lr)
    history = []
    for epoch in range(1, epochs + 1):
        perm = torch.from_numpy(rng.permutation(len(acts)))
        total, correct = 0.0, 0
        for k in range(0, len(perm), batch_steps):
            idx = perm[k : k + batch_steps]
            logits = module.forward_train({"obs": {"observations": obs[idx], "action_mask": mask[idx]}})["action_dist_inputs"]
            allowed = mask[idx] > 0
            target = smoothing * allowed / allowed.sum(dim=1, keepdim=True) + (1 - smoothing) * F.one_hot(acts[idx], logits.shape[1])
            logp = torch.where(allowed, torch.log_softmax(logits, dim=1), torch.zeros_like(logits))
            loss = -(target * logp).sum(dim=1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            correct += int((logits.argmax(dim=1) == acts[idx]).sum())
        history.append({"epoch": epoch, "loss": total / len(acts), "accuracy": correct / len(acts)})
        say(f"{what} epoch {epoch}/{epochs}: loss {history[-1]['loss']:.4f} action accuracy {history[-1]['accuracy']:.3f} ({len(acts)} steps, {demos.edits} edits)")
    module.eval()
    return history


def train_bc(
    analyses: Mapping[str, SongAnalysis],
    *,
    config: Config,
    out_dir: str | Path,
    edits_per_song: int = 12,
    epochs: int = 15,
    lr: float = 1e-3,
    batch_steps: int = 256,
    smoothing: float = 0.05,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Fit a fresh policy to the search baseline's edits (:func:`clone`); save it as an RLModule checkpoint.

    Returns
    -------
    dict
        ``{"checkpoint", "steps", "history"}`` (per-epoch loss and action accuracy).
    """
    say = log or (lambda m: print(m, file=sys.stderr, flush=True))
    songs = list(analyses.values())
    env = MusicEditEnv(songs, config=config.env, reward=config.reward, search=config.search)
    rng = np.random.default_rng(config.rl.seed)
    demos = []
    for i, a in enumerate(songs):
        for _ in range(edits_per_song):
            target = float(rng.uniform(0.35, 0.8)) * a.duration_s
            if config.env.mood_conditioning and rng.random() < config.env.mood_probability:
                mood = named_mood(MOOD_NAMES[int(rng.integers(len(MOOD_NAMES)))])
                demos.append((i, target, mood_search_edits(a, target_seconds=target, mood=mood, config=config, strengths=(1.0,))[0], mood))
            else:
                demos.append((i, target, search_edit(a, target_seconds=target, config=config), None))
    try:
        d = demonstrations(env, demos)
    except EditorRLError:
        raise EditorRLError("behaviour cloning found no replayable search edits") from None
    module = new_module(config, env)
    history = clone(module, d, epochs=epochs, lr=lr, batch_steps=batch_steps, smoothing=smoothing, seed=config.rl.seed, say=say)
    out = Path(out_dir)
    module.save_to_path(str(out.resolve()))
    return {"checkpoint": str(out), "steps": int(len(d.actions)), "history": history}
