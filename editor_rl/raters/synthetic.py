"""Synthetic preference pairs: two candidate edits of one song at one target, judged by a rater
drawn from a panel of tastes (a mixture: what most listeners share).

Candidates come from the baselines with varied settings — the random policy at temperatures 0.3,
1 and 3, the search with different seam penalties and end constraints, every other phrase — from
*perturbed* search edits (a search edit with one extra off-bar cut), from *section* searches (the
planner with a random bonus on some phrases, so well-made edits that keep different parts of the
song), and from *planner followers* that take the planner's hinted action except, with probability
ε, a random allowed one (the edits a hint-following policy makes while it explores). So the pairs
span clearly different edits as well as near-twins that differ in a single seam or section.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Sequence

import numpy as np

from editor_rl.audio.analysis import SongAnalysis
from editor_rl.config import Config
from editor_rl.edit.actions import ACTION_NAMES, N_ACTIONS, EditGrid, actions_for_order
from editor_rl.editors.baselines import every_other_phrase, plain_cut, random_edit, search_edit, section_search_edit
from editor_rl.edit.plan import EditPlan, plan_from_order
from editor_rl.policy.env import MusicEditEnv, rollout
from editor_rl.raters.rater import SimulatedRater
from editor_rl.preferences.records import Candidate, PreferenceRecord

Generator = Callable[[SongAnalysis, float, np.random.Generator], EditPlan]


def _perturbed_search(config: Config) -> Generator:
    def gen(a: SongAnalysis, target: float, rng: np.random.Generator) -> EditPlan:
        base = list(search_edit(a, target_seconds=target, config=config).beat_order)
        if len(base) < 12:
            return search_edit(a, target_seconds=target, config=config)
        k = int(rng.integers(4, len(base) - 6))
        drop = int(rng.integers(1, 4))
        order = base[:k] + base[k + drop :]
        ended = order[-1] != a.n_beats - 1
        acts = actions_for_order(EditGrid.of(a), order, ended=ended)  # only forward jumps: always replayable
        return plan_from_order(a, order, [ACTION_NAMES[x] for x in acts], fade_out=ended)

    return gen


def _planner_follower(config: Config, eps: float) -> Generator:
    def gen(a: SongAnalysis, target: float, rng: np.random.Generator) -> EditPlan:
        env = MusicEditEnv([a], config=replace(config.env, planner_hint=True), reward=config.reward, search=config.search)

        def choose(obs: dict, r: np.random.Generator) -> int:
            hint = obs["observations"][-N_ACTIONS:]
            if hint.any() and r.random() >= eps:
                return int(np.argmax(hint))
            return int(r.choice(np.flatnonzero(obs["action_mask"])))

        info, _ = rollout(env, choose, seed=int(rng.integers(1 << 31)), options={"target_seconds": target})
        return info["plan"]

    return gen


def generators(config: Config) -> dict[str, Generator]:
    """Named candidate generators (each ``(analysis, target_seconds, rng) -> EditPlan``)."""
    s = config.search
    gens: dict[str, Generator] = {}
    for temp in (0.3, 1.0, 3.0):
        gens[f"random_t{temp}"] = lambda a, t, rng, temp=temp: random_edit(a, target_seconds=t, config=config, seed=int(rng.integers(1 << 31)),
                                                                           temperature=temp, keep_promise=False)
    for name, sc in (("search", s), ("search_cheap_seams", replace(s, seam_penalty=0.0)), ("search_fade", replace(s, keep_end=False))):
        cfg = replace(config, search=sc)
        gens[name] = lambda a, t, rng, cfg=cfg: search_edit(a, target_seconds=t, config=cfg)
    gens["every_other_phrase"] = lambda a, t, rng: every_other_phrase(a, target_seconds=t, config=config, keep_promise=False)
    gens["plain_cut"] = lambda a, t, rng: plain_cut(a, target_seconds=t, config=config)
    gens["search_perturbed"] = _perturbed_search(config)
    gens["search_sections"] = lambda a, t, rng: section_search_edit(a, target_seconds=t, config=config, rng=rng)
    for eps in (0.03, 0.1):
        gens[f"planner_eps{eps}"] = _planner_follower(config, eps)
    return gens


def make_pairs(
    songs: Sequence[SongAnalysis],
    *,
    n_pairs: int,
    raters: Sequence[SimulatedRater],
    config: Config = Config(),
    seed: int = 0,
    target_ratio: tuple[float, float] = (0.35, 0.8),
    progress: Callable[[int], None] | None = None,
) -> list[PreferenceRecord]:
    """Generate ``n_pairs`` judged pairs over ``songs``.

    Parameters
    ----------
    songs : sequence of SongAnalysis
    n_pairs : int
    raters : sequence of SimulatedRater
        Each pair is labelled by one of them, drawn at random.
    config : Config
    seed : int
    target_ratio : (float, float)
        Range of the target length as a fraction of the song.
    progress : callable or None
        Called with the number of pairs made so far.

    Returns
    -------
    list of PreferenceRecord
        ``source="synthetic"``, ``target_seconds`` set, candidate ids ``<song>:<generator>:<k>``.
    """
    rng = np.random.default_rng(seed)
    gens = generators(config)
    names = sorted(gens)
    records = []
    for k in range(n_pairs):
        a = songs[int(rng.integers(len(songs)))]
        target = round(float(rng.uniform(*target_ratio)) * a.duration_s, 2)
        ga, gb = rng.choice(len(names), size=2, replace=False)
        plans = [gens[names[g]](a, target, rng) for g in (ga, gb)]
        rater = raters[int(rng.integers(len(raters)))]
        j = rater.judge(a, plans[0], plans[1], target_seconds=target)
        cands = [Candidate(candidate_id=f"{a.song_id}:{names[g]}:{k}", edl=p.to_edl()) for g, p in zip((ga, gb), plans)]
        records.append(PreferenceRecord(pair_id=f"syn-{seed}-{k}", song_id=a.song_id, a=cands[0], b=cands[1], preference=j.preference,
                                        strength=j.strength, rater_id=rater.rater_id, source="synthetic", target_seconds=target))
        if progress:
            progress(k + 1)
    return records
