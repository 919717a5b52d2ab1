"""Judging a policy on songs it never trained on: the one place a policy is compared with the baselines.

For every song and every target of ``eval`` (``target_ratios``, or ``target_seconds``) the policy
(temperature 0) and each baseline make an edit — every one keeping the length promise, with the
planner's repairs counted — and each judge (a simulated rater that labelled none of the reward
model's training pairs) says which of the policy's edit and the baseline's it prefers; a tie counts
half. Two panels judge, and every result names its own: :func:`heldout_judges` (fresh raters of the
tastes the reward model learns: training chooses ``checkpoints/best`` by them) and
:func:`unseen_judges` (tastes the model never learns from: ``evaluate``'s report and Tune's objective).
"""

from __future__ import annotations

from typing import Mapping, NamedTuple, Sequence

import numpy as np

from editor_rl.audio.analysis import SongAnalysis
from editor_rl.config import Config
from editor_rl.edit.plan import EditPlan
from editor_rl.editors.baselines import baseline_edit
from editor_rl.editors.best_of import best_edits
from editor_rl.policy.rollouts import policy_edits
from editor_rl.raters.rater import SimulatedRater, panel


def heldout_judges(config: Config) -> list[SimulatedRater]:
    """Fresh raters of the tastes the reward model learns (``rater.pretrain_tastes``) who labelled no
    training pair: they choose ``checkpoints/best``, as held-out judgements of the same listeners would."""
    return panel(config.rater.pretrain_tastes, seed=config.rater.seed + config.eval.judge_seed)


def unseen_judges(config: Config) -> list[SimulatedRater]:
    """Raters of tastes the model never learns from (``rater.judge_tastes``): the evaluation's judges."""
    return panel(config.rater.judge_tastes, seed=config.rater.seed + 2 * config.eval.judge_seed)


class Judged(NamedTuple):
    """What :func:`judge_policy` found.

    Attributes
    ----------
    jobs : list of (SongAnalysis, float)
        Each judged song and target, seconds.
    plans : dict of str to list of EditPlan
        Per method ("policy", "best_of" when a reward model chose among candidates, and each
        baseline), its edit of every job.
    win_rate : dict of str to dict of str to dict of str to float
        Per method, per baseline, per judge id: the share of jobs where the judge preferred the
        method's edit to the baseline's (a tie counts half).
    """

    jobs: list[tuple[SongAnalysis, float]]
    plans: dict[str, list[EditPlan]]
    win_rate: dict[str, dict[str, dict[str, float]]]

    @property
    def judges(self) -> list[str]:
        """The judges' rater ids (each names its taste)."""
        return list(next(iter(next(iter(self.win_rate.values())).values())))

    def mean_win_rate(self, baseline: str, judges: Sequence[str] | None = None, *, method: str = "policy") -> float:
        """``method``'s win rate against ``baseline``, averaged over the judges (or the ones named)."""
        return float(np.mean([w for j, w in self.win_rate[method][baseline].items() if judges is None or j in judges]))

    def repairs(self, method: str) -> int:
        """How many of ``method``'s edits the planner had to complete to keep the length promise."""
        return sum(1 for p in self.plans[method] if p.repair)


def judge_policy(module, analyses: Mapping[str, SongAnalysis], *, judges: Sequence[SimulatedRater], config: Config,
                 baselines: Sequence[str] = ("search", "plain_cut"), scorer=None, seed: int = 0) -> Judged:
    """The policy's greedy edits (and, with ``scorer``, its best-of-N edits) against the baselines',
    judged by ``judges`` (see the module docstring).

    Parameters
    ----------
    module : RLModule
    analyses : mapping of song id to SongAnalysis
        Songs the policy never trained on.
    judges : sequence of SimulatedRater
    config : Config
        ``eval.targets`` gives each song's targets; ``pick`` shapes best of N.
    baselines : sequence of str
        Names in :data:`editor_rl.editors.baselines.BASELINES`.
    scorer : RewardScorer or None
        A reward model to choose the best of N candidates (:mod:`editor_rl.editors.best_of`).
    seed : int
        Seed of the random baseline and the sampled candidates.
    """
    jobs = [(a, t) for a in analyses.values() for t in config.eval.targets(a.duration_s)]
    plans = {"policy": policy_edits(module, [(a, t, 0.0, seed) for a, t in jobs], config=config)}  # one lockstep batch
    if scorer is not None:
        plans["best_of"] = best_edits(module, [(a, t, seed + 17 * k) for k, (a, t) in enumerate(jobs)], scorer=scorer, config=config)
    methods = list(plans)
    for b in baselines:
        plans[b] = [baseline_edit(b, a, target_seconds=t, config=config, seed=seed) for a, t in jobs]
    win = {m: {b: {j.rater_id: float(np.mean([j.judge(a, p, q, target_seconds=t).for_a for (a, t), p, q in zip(jobs, plans[m], plans[b])]))
                   for j in judges} for b in baselines} for m in methods}
    return Judged(jobs, plans, win)


class WinRate(NamedTuple):
    """A policy's win rate over the search, with the panel that judged it.

    Attributes
    ----------
    value : float
        Mean over the judges of the share of jobs where the policy's edit was preferred (ties half).
    panel : str
        ``"heldout"`` or ``"unseen"`` (:data:`PANELS`).
    judges : list of str
        The judges' rater ids.
    """

    value: float
    panel: str
    judges: list[str]


PANELS = {"heldout": heldout_judges, "unseen": unseen_judges}
"""The two judging panels by name."""


def win_rate_vs_search(module, analyses: Mapping[str, SongAnalysis], *, panel: str, config: Config) -> WinRate:
    """The policy's greedy edits against the search's, judged by the panel named ``panel``
    (training's choice of ``best``, Tune's objective)."""
    judged = judge_policy(module, analyses, judges=PANELS[panel](config), config=config, baselines=("search",))
    return WinRate(judged.mean_win_rate("search"), panel, judged.judges)
