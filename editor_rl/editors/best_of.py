"""Best of N: the edit handed to a person is the reward model's conservative favourite among candidates.

For each job (a song and a target) the candidates are every kind of edit raters judge
(:data:`KINDS`): the policy's greedy edit, ``pick.samples`` of its edits sampled at
``pick.temperature``, the search's edit, ``pick.section_plans`` planner edits that favour random
sections (drawn per song, :func:`song_seed`, so their cost-to-go tables serve every target), the
plain cut with a fade-out, windows (no cut inside; at least ``pick.windows``, their starts at most
``pick.window_spacing`` targets apart, so a long song's every stretch is near one) and ``pick.one_cuts`` edits that
keep the opening and the ending with one cut — every one keeping the length promise; with a
requested mood, the searches steered toward it and the windows nearest it as well. A listener's favourite is often a window or the plain cut, so best of N must be able
to serve one. The reward model scores them all (one batch) and the favourite maximises
``mean − pick.uncertainty_penalty × spread`` over the ensemble: a candidate the members disagree
about (off the data they learned from) needs a clearly higher mean to win — meant to keep a prior
safe for listeners it has not met, which it does only in part (BENCHMARKS "Regret": it lowers the
regret of three listeners before their labels, and does not stop the pretrained reward model from
serving windows to listeners who want the song's ending). Because the search's edit is always a candidate, the choice is never
worse than the search *by the reward model's judgement*; whether listeners agree is what
evaluations measure.

This is how a freshly fine-tuned reward model changes what people get at once, while PPO makes the
policy's own proposals better over time.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import NamedTuple, Sequence

import numpy as np

from editor_rl.audio.analysis import SongAnalysis
from editor_rl.audio.mood import Mood
from editor_rl.editors.baselines import one_cut_edits, plain_cut, search_edit, section_search_edits, window_edits
from editor_rl.config import Config
from editor_rl.edit.plan import EditPlan
from editor_rl.editors.mood import edit_mood_distance, mood_search_edits, mood_window_edits
from editor_rl.policy.rollouts import policy_edits
from editor_rl.rewards.sequence import edit_sequence


def song_seed(analysis: SongAnalysis) -> int:
    """The seed of a song's section searches in best of N: fixed by its content alone, so every
    target draws the same section bonuses and the song's planner keeps their tables."""
    digest = hashlib.sha256(f"{analysis.content_hash}:sections".encode()).digest()
    return int.from_bytes(digest[:4], "little") >> 1


def job_seed(analysis: SongAnalysis, target_seconds: float) -> int:
    """The sampling seed of a best-of-N job: fixed by the song's content and the target (to the
    millisecond), so the same request gets the same best edit from the same model."""
    digest = hashlib.sha256(f"{analysis.content_hash}:{round(target_seconds * 1000)}".encode()).digest()
    return int.from_bytes(digest[:4], "little") >> 1


KINDS = ("policy", "sample", "search", "section", "plain_cut", "window", "one_cut", "mood")
"""The kinds of candidate, in the order :func:`candidate_edits` lists them."""


class Proposal(NamedTuple):
    """One candidate of a job: its ``kind`` (one of :data:`KINDS`) and the ``plan``."""

    kind: str
    plan: EditPlan


class Pick(NamedTuple):
    """The favourite of a job: the plan, its kind, and the reward model's mean and spread for it."""

    plan: EditPlan
    kind: str
    mean: float
    spread: float


def candidate_edits(module, jobs: Sequence[tuple[SongAnalysis, float, int]], *, config: Config,
                    moods: Sequence[Mood | None] | None = None) -> list[list[Proposal]]:
    """Every job's candidates of every kind (duplicates removed, the first kind kept), the policy's greedy edit first.

    Parameters
    ----------
    module : RLModule
    jobs : sequence of (analysis, target_seconds, seed)
    moods : sequence of Mood or None, optional
        Each job's requested mood: a job with one also gets the searches steered toward it and the
        ``pick.mood_windows`` windows nearest it (kind ``"mood"``, :mod:`editor_rl.editors.mood`).
    """
    pc = config.pick
    rollouts = [(a, t, 0.0, seed) for a, t, seed in jobs] + [(a, t, pc.temperature, seed + 1 + k) for a, t, seed in jobs for k in range(pc.samples)]
    job_moods = list(moods) if moods is not None else [None] * len(jobs)
    edits = policy_edits(module, rollouts, config=config, moods=job_moods + [m for m in job_moods for _ in range(pc.samples)])  # one lockstep batch
    out = []
    for j, (a, t, seed) in enumerate(jobs):
        rng = np.random.default_rng(song_seed(a))
        props = [Proposal("policy", edits[j])] + [Proposal("sample", p) for p in edits[len(jobs) + j * pc.samples : len(jobs) + (j + 1) * pc.samples]]
        props += [Proposal("search", search_edit(a, target_seconds=t, config=config))]
        props += [Proposal("section", p) for p in section_search_edits(a, target_seconds=t, config=config, rng=rng, count=pc.section_plans, table=True)]
        props += [Proposal("plain_cut", plain_cut(a, target_seconds=t, config=config))] if pc.plain_cut else []
        props += [Proposal("window", p) for p in window_edits(a, target_seconds=t, count=pc.window_count(duration_s=a.duration_s, target_seconds=t))]
        props += [Proposal("one_cut", p) for p in one_cut_edits(a, target_seconds=t, count=pc.one_cuts)]
        mood = moods[j] if moods is not None else None
        if mood is not None:
            props += [Proposal("mood", p) for p in mood_search_edits(a, target_seconds=t, mood=mood, config=config)]
            props += [Proposal("mood", p) for p in mood_window_edits(a, target_seconds=t, mood=mood, count=pc.mood_windows)]
        seen, unique = set(), []
        for p in props:
            if p.plan.beat_order not in seen:
                seen.add(p.plan.beat_order)
                unique.append(p)
        out.append(unique)
    return out


def best_picks(module, jobs: Sequence[tuple[SongAnalysis, float, int]], *, scorer, config: Config,
               candidates: list[list[Proposal]] | None = None, moods: Sequence[Mood | None] | None = None,
               exclude: Sequence[tuple[int, ...] | None] | None = None) -> list[Pick]:
    """The reward model's conservative favourite for every job (see the module docstring), with its kind and scores.

    With a job's mood, the favourite maximises the reward model's value minus ``pick.mood_weight``
    × the candidate's mood distance (each standardised over the job's candidates), and its plan
    records the mood.

    Parameters
    ----------
    module : RLModule
    jobs : sequence of (analysis, target_seconds, seed)
    scorer : RewardScorer
    candidates : list of list of Proposal, optional
        The jobs' candidates when already made (:func:`candidate_edits`, with the same ``moods``).
    moods : sequence of Mood or None, optional
        Each job's requested mood.
    exclude : sequence of beat orders or None, optional
        Per job, an edit (its ``beat_order``) not to pick: "another one" is the favourite of the rest.

    Returns
    -------
    list of Pick
        One per job, in order.
    """
    cands = candidates if candidates is not None else candidate_edits(module, jobs, config=config, moods=moods)
    seqs = [edit_sequence(a, p.plan, target_seconds=t) for (a, t, _), props in zip(jobs, cands) for p in props]
    members = scorer.score_members(seqs)
    mean, spread = members.mean(axis=1), members.std(axis=1)
    value = mean - config.pick.uncertainty_penalty * spread
    out, k = [], 0
    for j, ((a, _, _), props) in enumerate(zip(jobs, cands)):
        mood = moods[j] if moods is not None else None
        v = value[k : k + len(props)]
        if mood is not None:
            v = _standard(v) - config.pick.mood_weight * _standard(np.array([edit_mood_distance(a, p.plan, mood) for p in props]))
        if exclude is not None and exclude[j] is not None:
            v = np.where([tuple(p.plan.beat_order) == tuple(exclude[j]) for p in props], -np.inf, v)
        i = int(np.argmax(v))
        plan = props[i].plan if mood is None else replace(props[i].plan, mood=mood)
        out.append(Pick(plan, props[i].kind, float(mean[k + i]), float(spread[k + i])))
        k += len(props)
    return out


def _standard(x: np.ndarray) -> np.ndarray:
    """``x`` standardised (zero mean, unit spread; all zero when flat)."""
    sd = x.std()
    return (x - x.mean()) / sd if sd > 1e-12 else np.zeros_like(x)


def best_edits(module, jobs: Sequence[tuple[SongAnalysis, float, int]], *, scorer, config: Config,
               moods: Sequence[Mood | None] | None = None) -> list[EditPlan]:
    """The reward model's conservative favourite for every job (see :func:`best_picks`): one EditPlan per job, in order."""
    return [p.plan for p in best_picks(module, jobs, scorer=scorer, config=config, moods=moods)]
