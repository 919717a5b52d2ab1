"""Best of N: the edit handed to a person is the reward model's conservative favourite among candidates.

For each job (a song and a target) the candidates are the policy's greedy edit, ``pick.samples`` of
its edits sampled at ``pick.temperature``, the search's edit and ``pick.section_plans`` planner edits
that favour random sections — every one keeping the length promise. The reward model scores them all
(one batch) and the favourite maximises ``mean − pick.uncertainty_penalty × spread`` over the
ensemble: a candidate the members disagree about (off the data they learned from) needs a clearly
higher mean to win. Because the search's edit is always a candidate, the choice is never worse than
the search *by the reward model's judgement*; whether listeners agree is what evaluations measure.

This is how a freshly fine-tuned reward model changes what people get at once, while PPO makes the
policy's own proposals better over time.
"""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np

from editor_rl.audio.analysis import SongAnalysis
from editor_rl.baselines import search_edit, section_search_edit
from editor_rl.config import Config
from editor_rl.edit.plan import EditPlan
from editor_rl.policy_edits import policy_edits
from editor_rl.rewards.sequence import edit_sequence


def job_seed(analysis: SongAnalysis, target_seconds: float) -> int:
    """The sampling seed of a best-of-N job: fixed by the song's content and the target (to the
    millisecond), so the same request gets the same best edit from the same model."""
    digest = hashlib.sha256(f"{analysis.content_hash}:{round(target_seconds * 1000)}".encode()).digest()
    return int.from_bytes(digest[:4], "little") >> 1


def candidate_edits(module, jobs: Sequence[tuple[SongAnalysis, float, int]], *, config: Config) -> list[list[EditPlan]]:
    """Every job's candidates (duplicates removed), the policy's greedy edit first.

    Parameters
    ----------
    module : RLModule
    jobs : sequence of (analysis, target_seconds, seed)
    """
    pc = config.pick
    rollouts = [(a, t, 0.0, seed) for a, t, seed in jobs] + [(a, t, pc.temperature, seed + 1 + k) for a, t, seed in jobs for k in range(pc.samples)]
    edits = policy_edits(module, rollouts, config=config)  # one lockstep batch
    out = []
    for j, (a, t, seed) in enumerate(jobs):
        rng = np.random.default_rng(seed)
        plans = [edits[j]] + edits[len(jobs) + j * pc.samples : len(jobs) + (j + 1) * pc.samples]
        plans += [search_edit(a, target_seconds=t, config=config)] + [section_search_edit(a, target_seconds=t, config=config, rng=rng) for _ in range(pc.section_plans)]
        seen, unique = set(), []
        for p in plans:
            if p.beat_order not in seen:
                seen.add(p.beat_order)
                unique.append(p)
        out.append(unique)
    return out


def best_edits(module, jobs: Sequence[tuple[SongAnalysis, float, int]], *, scorer, config: Config) -> list[EditPlan]:
    """The reward model's conservative favourite for every job (see the module docstring).

    Parameters
    ----------
    module : RLModule
    jobs : sequence of (analysis, target_seconds, seed)
    scorer : RewardScorer

    Returns
    -------
    list of EditPlan
        One per job, in order.
    """
    cands = candidate_edits(module, jobs, config=config)
    seqs = [edit_sequence(a, p, target_seconds=t) for (a, t, _), plans in zip(jobs, cands) for p in plans]
    members = scorer.score_members(seqs)
    value = members.mean(axis=1) - config.pick.uncertainty_penalty * members.std(axis=1)
    out, k = [], 0
    for plans in cands:
        out.append(plans[int(np.argmax(value[k : k + len(plans)]))])
        k += len(plans)
    return out
