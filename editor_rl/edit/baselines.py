"""Baseline editors: the bars a learned policy has to clear.

- ``random``: a masked random policy at a temperature (``p(a) ∝ exp(prior_a / T)`` over the
  allowed actions; the prior favours keeping, so T → 0 keeps almost everything and large T is
  uniform over the allowed actions);
- ``every_other_phrase``: keeps the first phrase and every second one after it (ignores the target);
- ``search``: dynamic programming over the beat graph, the method of the search-based remixers
  (radiotool, Remixatron, Audition's Remix): the cheapest path from the song's start to its own
  ending whose seams leave at bar ends and land on downbeats (or, at an extra cost paid only
  when whole bars cannot get within 4.5 % of the target, leave or land at a half bar), each seam costing
  ``1 − (weighted dense seam score) + seam_penalty``, and the length within a beat or two
  percent of the target where the song allows. It optimises exactly the dense seam components, so it is the strong bar to clear.

Every baseline returns an :class:`~editor_rl.edit.plan.EditPlan` whose ``actions`` replay it in
the action set of :mod:`editor_rl.edit.actions`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

import numpy as np

from editor_rl.audio.analysis import SongAnalysis
from editor_rl.config import Config
from editor_rl.edit.actions import ACTION_NAMES, EditGrid, actions_for_order
from editor_rl.edit.plan import EditPlan
from editor_rl.edit.planner import Planner
from editor_rl.errors import EditorRLError, InvalidEditError
from editor_rl.rewards import dense

# Log-prior of each action for the random baseline (KEEP, KEEP_BAR, KEEP_PHRASE, CUT, CUT_TO_BAR,
# CUT_TO_PHRASE, LOOP_BEAT, LOOP_BAR, END).
RANDOM_PRIOR = np.array([2.0, 1.0, 0.5, 0.0, 0.0, 0.0, -1.0, -1.0, -0.5])


def plan_from_order(analysis: SongAnalysis, order: list[int], actions: list[str], *, fade_out: bool) -> EditPlan:
    """An :class:`EditPlan` of ``analysis`` playing source beats in ``order``."""
    return EditPlan.from_beat_order(
        source=analysis.path, sample_rate=analysis.sample_rate, source_duration_s=analysis.duration_s,
        beat_starts_s=analysis.beats_s, beat_ends_s=analysis.beat_ends_s, beat_order=order, actions=actions, fade_out=fade_out,
    )


def every_other_phrase(analysis: SongAnalysis, **_: object) -> EditPlan:
    """Keep the first phrase and every second phrase after it; cut the rest.

    Beats before the first phrase start (a pickup) are kept with the first phrase. The result is
    about half the song, every cut on a phrase boundary; the target length is ignored.
    """
    phrase_index = np.cumsum(analysis.phrase_pos == 0) - 1  # -1 for a pickup before phrase 0
    keep = (phrase_index <= 0) | (phrase_index % 2 == 0)
    order = [int(i) for i in np.flatnonzero(keep)]
    ended = order[-1] != analysis.n_beats - 1
    acts = actions_for_order(EditGrid.of(analysis), order, ended=ended)
    return plan_from_order(analysis, order, [ACTION_NAMES[a] for a in acts], fade_out=ended)


def random_policy(temperature: float) -> Callable[[dict, np.random.Generator], int]:
    """A masked random policy: ``p(a) ∝ exp(RANDOM_PRIOR[a] / temperature)`` over allowed actions."""
    if not temperature > 0:
        raise InvalidEditError(f"temperature={temperature}: the random baseline needs a temperature > 0")

    def choose(obs: dict, rng: np.random.Generator) -> int:
        mask = obs["action_mask"] > 0
        logits = np.where(mask, RANDOM_PRIOR / temperature, -np.inf)
        p = np.exp(logits - logits[mask].max())
        return int(rng.choice(len(p), p=p / p.sum()))

    return choose


def random_edit(analysis: SongAnalysis, *, target_seconds: float, config: Config = Config(), seed: int = 0, temperature: float = 1.0) -> EditPlan:
    """One episode of the random policy on ``analysis`` toward ``target_seconds``."""
    from editor_rl.env import MusicEditEnv, rollout

    env_config = replace(config.env, planner_hint=False)  # it never reads the hint: no re-planning at every step
    env = MusicEditEnv([analysis], config=env_config, reward=config.reward, search=config.search)
    info, _ = rollout(env, random_policy(temperature), seed=seed, options={"song_index": 0, "target_seconds": target_seconds})
    if info["plan"] is None:
        raise EditorRLError(f"{analysis.song_id}: the random policy kept no beats (seed {seed}); try another seed")
    return info["plan"]


def search_edit(analysis: SongAnalysis, *, target_seconds: float, config: Config = Config(), bonus: np.ndarray | None = None, **_: object) -> EditPlan:
    """The cheapest bar-aligned path through the song that hits the target (:mod:`editor_rl.edit.planner`).

    Parameters
    ----------
    analysis : SongAnalysis
    target_seconds : float
    config : Config
        ``config.search`` (penalties, start/end constraints) and ``config.reward`` (seam weights).
    bonus : np.ndarray [shape=(n_beats,)] or None
        Per-beat bonus for playing a beat (favours those beats).

    Raises
    ------
    InvalidEditError
        The target is not positive, is longer than the song, or the song is shorter than two bars.
    """
    from editor_rl.env import check_target

    check_target(analysis, target_seconds)
    grid = EditGrid.of(analysis)
    planner = Planner(dense.song_tables(analysis), grid, reward=config.reward, search=config.search)
    path = planner.path(target_seconds=target_seconds, bonus=bonus)
    if not path.order:
        raise InvalidEditError(f"{analysis.song_id}: no bar-aligned edit of {target_seconds:.1f} s exists")
    acts = actions_for_order(grid, path.order, ended=path.fade_out)
    return plan_from_order(analysis, path.order, [ACTION_NAMES[a] for a in acts], fade_out=path.fade_out)


BASELINES: dict[str, Callable[..., EditPlan]] = {"random": random_edit, "every_other_phrase": every_other_phrase, "search": search_edit}


def baseline_edit(name: str, analysis: SongAnalysis, *, target_seconds: float, config: Config = Config(), seed: int = 0, temperature: float = 1.0) -> EditPlan:
    """Run the baseline called ``name`` (one of ``BASELINES``).

    Raises
    ------
    EditorRLError
        Unknown name, or an impossible target.
    """
    if name not in BASELINES:
        raise EditorRLError(f"unknown baseline {name!r}; choose one of {', '.join(sorted(BASELINES))}")
    from editor_rl.env import check_target

    check_target(analysis, target_seconds)
    return BASELINES[name](analysis, target_seconds=target_seconds, config=config, seed=seed, temperature=temperature)
