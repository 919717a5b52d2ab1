"""DPO: train the policy straight from preference pairs (``editor-rl train --algorithm dpo``).

For each non-tie pair of edits of one song at one target, both edits are replayed through
:class:`~editor_rl.policy.env.MusicEditEnv` (their ``actions``, from the same start) to recover the
observations the policy saw; an edit's log-probability is the sum over its steps of
``log softmax(masked logits)[action]``. The loss (Rafailov et al., 2023) is

    −log σ(β · [(log π(c) − log π_ref(c)) − (log π(r) − log π_ref(r))])

for chosen ``c`` and rejected ``r``, weighted by the judgement's strength; the reference policy is
the starting policy (a PPO checkpoint, or a freshly initialised module), frozen. Ties carry no
preference and are skipped; so are pairs whose actions cannot be replayed. The result is an
RLModule checkpoint that ``editor-rl edit --checkpoint`` and ``evaluate`` use like a PPO one.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Callable, Mapping, NamedTuple, Sequence

import numpy as np
import torch
from torch.nn import functional as F

from editor_rl.audio.analysis import SongAnalysis
from editor_rl.config import Config
from editor_rl.edit.actions import Action
from editor_rl.policy.env import MusicEditEnv
from editor_rl.errors import EditorRLError, PreferenceDataError
from editor_rl.preferences.records import Candidate, PreferenceRecord


class Trajectory(NamedTuple):
    """An edit replayed in the env: observations [shape=(T, obs_dim)], masks [shape=(T, 9)], actions [shape=(T,)]."""

    observations: np.ndarray
    masks: np.ndarray
    actions: np.ndarray


def replay(env: MusicEditEnv, song_index: int, candidate: Candidate, *, target_seconds: float, mood=None) -> Trajectory | None:
    """Replay a candidate's actions (in an episode asking for ``mood``, or none); None if an action is
    not allowed where it was taken."""
    plan = candidate.plan()
    try:
        acts = [int(Action[a]) for a in plan.actions]
    except KeyError:
        return None
    if not acts:
        return None
    obs, _ = env.reset(options={"song_index": song_index, "target_seconds": target_seconds, "mood": mood})
    O, M = [], []
    for a in acts:
        if not obs["action_mask"][a]:
            return None
        O.append(obs["observations"])
        M.append(obs["action_mask"])
        obs, _, term, trunc, _ = env.step(a)
        if term or trunc:
            break
    n = len(O)
    return Trajectory(np.stack(O), np.stack(M), np.asarray(acts[:n], dtype=np.int64))


def _logp(module, traj: Sequence[Trajectory]) -> torch.Tensor:
    """Sum of log π(a_t | s_t) per trajectory [shape=(len(traj),)]."""
    obs = torch.from_numpy(np.concatenate([t.observations for t in traj]))
    mask = torch.from_numpy(np.concatenate([t.masks for t in traj]))
    acts = torch.from_numpy(np.concatenate([t.actions for t in traj]))
    logits = module.forward_train({"obs": {"observations": obs, "action_mask": mask}})["action_dist_inputs"]
    lp = F.log_softmax(logits, dim=-1).gather(1, acts[:, None])[:, 0]
    owner = torch.repeat_interleave(torch.arange(len(traj)), torch.tensor([len(t.actions) for t in traj]))
    return torch.zeros(len(traj)).index_add(0, owner, lp)


def new_module(config: Config, env: MusicEditEnv):
    """A freshly initialised policy module for ``env``'s spaces."""
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    from editor_rl.rl.module import MaskedPPOModule

    spec = RLModuleSpec(module_class=MaskedPPOModule, observation_space=env.observation_space, action_space=env.action_space,
                        model_config={"fcnet_hiddens": list(config.rl.hidden), "vf_share_layers": False})
    return spec.build()


def _replayed_pairs(records: Sequence[PreferenceRecord], env: MusicEditEnv) -> tuple[list[tuple], int]:
    """(chosen trajectory, rejected trajectory, strength) of every record the env can replay, and
    how many it skipped (ties, unknown songs, edits it cannot replay)."""
    index = {a.song_id: i for i, a in enumerate(env.songs)}
    pairs, skipped = [], 0
    for r in records:
        if r.preference == "tie" or r.song_id not in index:
            skipped += 1
            continue
        target = r.target_seconds or r.a.plan().duration_s
        ta, tb = replay(env, index[r.song_id], r.a, target_seconds=target), replay(env, index[r.song_id], r.b, target_seconds=target)
        if ta is None or tb is None:
            skipped += 1
            continue
        chosen, rejected = (ta, tb) if r.preference == "a" else (tb, ta)
        pairs.append((chosen, rejected, float(r.strength)))
    return pairs, skipped


def _dpo_epoch(module, opt, pairs: list[tuple], ref: tuple[torch.Tensor, torch.Tensor], *, beta: float, batch_pairs: int,
               rng: np.random.Generator) -> dict:
    """One pass over the pairs in random minibatches: the strength-weighted DPO loss against the
    frozen reference's log-probabilities ``ref`` (chosen, rejected)."""
    perm = rng.permutation(len(pairs))
    total, correct = 0.0, 0
    for k in range(0, len(perm), batch_pairs):
        sel = perm[k : k + batch_pairs]
        lc = _logp(module, [pairs[i][0] for i in sel])
        lr_ = _logp(module, [pairs[i][1] for i in sel])
        margin = beta * ((lc - ref[0][sel]) - (lr_ - ref[1][sel]))
        w = torch.tensor([pairs[i][2] for i in sel])
        loss = (w * -F.logsigmoid(margin)).sum() / w.sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += loss.item() * len(sel)
        correct += int((margin > 0).sum())
    return {"loss": total / len(pairs), "preference_accuracy": correct / len(pairs)}


def train_dpo(
    records: Sequence[PreferenceRecord],
    analyses: Mapping[str, SongAnalysis],
    *,
    config: Config,
    out_dir: str | Path,
    init_checkpoint: str | Path | None = None,
    beta: float = 0.1,
    lr: float = 1e-4,
    epochs: int = 4,
    batch_pairs: int = 16,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Train a policy by DPO and save it as an RLModule checkpoint in ``out_dir``.

    Returns
    -------
    dict
        ``{"checkpoint", "pairs", "skipped", "history"}`` (per-epoch loss and preference accuracy).
    """
    say = log or (lambda m: print(m, file=sys.stderr, flush=True))
    env = MusicEditEnv(list(analyses.values()), config=config.env, reward=config.reward, search=config.search)
    pairs, skipped = _replayed_pairs(records, env)
    if not pairs:
        raise PreferenceDataError(f"no usable preference pairs for DPO ({skipped} ties or unreplayable pairs)")
    if init_checkpoint:
        from editor_rl.policy.load import load_policy

        module = load_policy(init_checkpoint)
    else:
        module = new_module(config, env)
    module.train()
    reference = copy.deepcopy(module).eval()
    for p in reference.parameters():
        p.requires_grad_(False)
    opt = torch.optim.Adam([p for p in module.parameters() if p.requires_grad], lr=lr)
    rng = np.random.default_rng(config.rl.seed)
    with torch.no_grad():
        ref = (_logp(reference, [p[0] for p in pairs]), _logp(reference, [p[1] for p in pairs]))
    history = []
    for epoch in range(1, epochs + 1):
        row = {"epoch": epoch} | _dpo_epoch(module, opt, pairs, ref, beta=beta, batch_pairs=batch_pairs, rng=rng)
        history.append(row)
        say(f"dpo epoch {epoch}/{epochs}: loss {row['loss']:.4f} chosen-over-rejected {row['preference_accuracy']:.3f} ({len(pairs)} pairs)")
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise EditorRLError(f"DPO output folder {str(out)!r} is not empty")
    module.eval()
    module.save_to_path(str(out.resolve()))
    return {"checkpoint": str(out), "pairs": len(pairs), "skipped": skipped, "history": history}
