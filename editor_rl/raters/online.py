"""Feedback on the policy's own edits: the step that closes the RLHF loop.

A reward model trained only on baseline candidates is off its data on the edits a policy learns
to make, and PPO finds its mistakes. So between PPO rounds the rater (a person through the
feedback service, or a :class:`~editor_rl.raters.rater.SimulatedRater` standing in for one)
judges the current policy's edits — sampled at several temperatures — against the search
baseline's and against each other; the new pairs are added to the preference set and the reward
model is fine-tuned on it. The share of greedy policy edits the rater prefers to the search's is
also the round's score, so the best round can be picked by the people whose taste is learned
(on training songs; the final evaluation uses held-out songs and a different rater).
"""

from __future__ import annotations

from typing import Mapping, NamedTuple, Sequence

import numpy as np

from editor_rl.audio.analysis import SongAnalysis
from editor_rl.config import Config
from editor_rl.editors.baselines import search_edit
from editor_rl.edit.plan import EditPlan
from editor_rl.policy.rollouts import policy_edits
from editor_rl.raters.rater import SimulatedRater
from editor_rl.preferences.records import Candidate, PreferenceRecord


class Feedback(NamedTuple):
    """One round of feedback: the judged ``records`` and the greedy policy's ``win_rate`` against
    the search baseline (a tie counts half) over ``n_compared`` pairs."""

    records: list[PreferenceRecord]
    win_rate: float
    n_compared: int


def policy_feedback(
    module,
    analyses: Mapping[str, SongAnalysis],
    *,
    rater: SimulatedRater,
    config: Config = Config(),
    temperatures: Sequence[float] = (0.0, 0.5, 1.0),
    targets_per_song: int = 2,
    round_id: str = "r0",
    seed: int = 0,
) -> Feedback:
    """Judge the policy's edits of every song against the search and against each other.

    Parameters
    ----------
    module : RLModule
        The policy (:func:`editor_rl.policy.load.load_policy`).
    analyses : mapping of song id to SongAnalysis
    rater : SimulatedRater
    config : Config
    temperatures : sequence of float
        Sampling temperatures of the policy's edits (0: greedy).
    targets_per_song : int
        Random targets (35–80 % of the song) per song.
    round_id : str
        Goes into pair and candidate ids.
    seed : int

    Returns
    -------
    Feedback
        Per song and target: each policy edit against the search's, and consecutive temperatures
        against each other (identical edits are skipped).
    """
    rng = np.random.default_rng(seed)
    records: list[PreferenceRecord] = []
    wins: list[float] = []
    for a in analyses.values():
        for k in range(targets_per_song):
            target = round(float(rng.uniform(0.35, 0.8)) * a.duration_s, 2)
            plans: dict[str, EditPlan] = {"search": search_edit(a, target_seconds=target, config=config)}
            jobs = [(a, target, t, int(rng.integers(1 << 31))) for t in temperatures]
            plans |= {f"policy_t{t}": p for t, p in zip(temperatures, policy_edits(module, jobs, config=config))}  # one lockstep batch
            names = [n for n in plans if n != "search"]
            pairs = [(n, "search") for n in names] + list(zip(names, names[1:]))
            for x, y in pairs:
                if plans[x].beat_order == plans[y].beat_order:
                    if x == "policy_t0.0" and y == "search":
                        wins.append(0.5)
                    continue
                j = rater.judge(a, plans[x], plans[y], target_seconds=target)
                if x == "policy_t0.0" and y == "search":
                    wins.append(j.for_a)
                pid = f"{round_id}-{a.song_id}-{k}-{x}-{y}"
                records.append(PreferenceRecord(
                    pair_id=pid, song_id=a.song_id, a=Candidate(f"{pid}:a", plans[x].to_edl()), b=Candidate(f"{pid}:b", plans[y].to_edl()),
                    preference=j.preference, strength=j.strength, rater_id=rater.rater_id, source="synthetic", target_seconds=target))
    return Feedback(records, float(np.mean(wins)) if wins else float("nan"), len(wins))
