"""Baseline editors: the bars a learned policy has to clear.

- ``random``: a masked random policy at a temperature (``p(a) ∝ exp(prior_a / T)`` over the
  allowed actions; the prior favours keeping, so T → 0 keeps almost everything and large T is
  uniform over the allowed actions);
- ``every_other_phrase``: keeps the first phrase and every second one after it;
- ``plain_cut``: plays the song from its start to the beat nearest the target and fades out — the
  trivial editor every learned one must beat;
- windows (:func:`window_edits`): a contiguous stretch from a downbeat, no cut inside (a plain cut
  that starts later);
- one-cut edits (:func:`one_cut_edits`): the song's opening to a bar end, one cut to a downbeat, and
  the song's own ending;
- ``search``: dynamic programming over the beat graph, the method of the search-based remixers
  (radiotool, Remixatron, Audition's Remix; :mod:`editor_rl.search.planner`): the cheapest path from
  the song's start to its own ending whose seams leave at bar ends and land on downbeats (or, at a
  cost, at a half bar), each seam costing ``1 − (weighted dense seam score) + seam_penalty``, and
  the length within a beat or two percent of the target where the song allows. It optimises exactly
  the dense seam components, so it is the strong bar to clear.

Every baseline returns an :class:`~editor_rl.edit.plan.EditPlan` whose ``actions`` replay it, and
keeps the length promise (:mod:`editor_rl.search.promise`) unless ``keep_promise=False`` (the raw
edit, as the synthetic pairs want it: a reward model must also see edits that miss the target).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

import numpy as np

from editor_rl.audio.analysis import SongAnalysis
from editor_rl.config import Config
from editor_rl.edit.actions import ACTION_NAMES, EditGrid, actions_for_order
from editor_rl.edit.plan import EditPlan, plan_from_order
from editor_rl.search.planner import Path, Planner, planner_for
from editor_rl.search.promise import check_target, complete_to_target, keeps_promise, plain_cut_order
from editor_rl.policy.env import MusicEditEnv, rollout
from editor_rl.errors import EditorRLError, InvalidEditError

# Log-prior of each action for the random baseline (KEEP, KEEP_BAR, KEEP_PHRASE, CUT, CUT_TO_BAR,
# CUT_TO_PHRASE, LOOP_BEAT, LOOP_BAR, END).
RANDOM_PRIOR = np.array([2.0, 1.0, 0.5, 0.0, 0.0, 0.0, -1.0, -1.0, -0.5])


def planner_of(analysis: SongAnalysis, config: Config) -> tuple[EditGrid, Planner]:
    """The song's grid and its planner under ``config`` (:func:`~editor_rl.search.planner.planner_for`: kept for recent songs)."""
    planner = planner_for(analysis, reward=config.reward, search=config.search)
    return planner.grid, planner


def _finish(analysis: SongAnalysis, order: list[int], *, ended: bool, target_seconds: float, config: Config, keep_promise: bool,
            planner: tuple[EditGrid, Planner] | None = None) -> EditPlan:
    """The plan playing ``order``, completed to the target by the planner when ``keep_promise``."""
    grid, pl = planner or planner_of(analysis, config)
    acts = actions_for_order(grid, order, ended=ended)
    if not keep_promise:
        return plan_from_order(analysis, order, [ACTION_NAMES[a] for a in acts], fade_out=ended)
    done = complete_to_target(grid, pl, acts, target_seconds=target_seconds)
    return plan_from_order(analysis, done.order, [ACTION_NAMES[a] for a in done.actions], fade_out=done.fade_out, repair=done.repair)


def every_other_phrase(analysis: SongAnalysis, *, target_seconds: float, config: Config = Config(), keep_promise: bool = True, **_: object) -> EditPlan:
    """Keep the first phrase and every second phrase after it; cut the rest.

    Beats before the first phrase start (a pickup) are kept with the first phrase. The raw result
    is about half the song with every cut on a phrase boundary, whatever the target.
    """
    phrase_index = np.cumsum(analysis.phrase_pos == 0) - 1  # -1 for a pickup before phrase 0
    keep = (phrase_index <= 0) | (phrase_index % 2 == 0)
    order = [int(i) for i in np.flatnonzero(keep)]
    return _finish(analysis, order, ended=order[-1] != analysis.n_beats - 1, target_seconds=target_seconds, config=config, keep_promise=keep_promise)


def plain_cut(analysis: SongAnalysis, *, target_seconds: float, config: Config = Config(), **_: object) -> EditPlan:
    """The song from its start to the beat nearest ``target_seconds``, faded out (within half a beat)."""
    order = plain_cut_order(EditGrid.of(analysis), target_seconds)
    ended = order[-1] != analysis.n_beats - 1
    acts = actions_for_order(EditGrid.of(analysis), order, ended=ended)
    return plan_from_order(analysis, order, [ACTION_NAMES[a] for a in acts], fade_out=ended)


def _evenly(items: list, count: int) -> list:
    """``count`` of ``items`` spread evenly over them (all when there are no more)."""
    if count >= len(items):
        return items
    return [items[int(k)] for k in np.unique(np.linspace(0, len(items) - 1, count).round().astype(int))]


def _chosen(analysis: SongAnalysis, orders: list[list[int]], *, ended: list[bool], target_seconds: float, count: int | None) -> list[EditPlan]:
    """Plans of the ``orders`` that keep the length promise, ``count`` of them spread evenly (None:
    every one); only the chosen ones are built."""
    durations = analysis.beat_ends_s - analysis.beats_s
    beat = float(np.median(durations))
    kept = [k for k, order in enumerate(orders) if keeps_promise(float(durations[order].sum()), target_seconds, beat)]
    grid = EditGrid.of(analysis)
    return [plan_from_order(analysis, orders[k], [ACTION_NAMES[x] for x in actions_for_order(grid, orders[k], ended=ended[k])], fade_out=ended[k])
            for k in _evenly(kept, len(kept) if count is None else count)]


def window_edits(analysis: SongAnalysis, *, target_seconds: float, count: int | None = None) -> list[EditPlan]:
    """Contiguous stretches of the song, each from a downbeat to the beat that makes it nearest the
    target (faded out unless it reaches the song's end): no cut inside. Of those that keep the length
    promise, ``count`` spread evenly over the song (None: every one)."""
    ends = np.cumsum(analysis.beat_ends_s - analysis.beats_s)
    orders, ended = [], []
    for s in np.flatnonzero(analysis.bar_pos == 0):
        before = ends[s - 1] if s else 0.0
        e = int(np.argmin(np.abs(ends[s:] - before - target_seconds))) + int(s)
        orders.append(list(range(int(s), e + 1)))
        ended.append(e != analysis.n_beats - 1)
    return _chosen(analysis, orders, ended=ended, target_seconds=target_seconds, count=count)


def one_cut_edits(analysis: SongAnalysis, *, target_seconds: float, count: int | None = None) -> list[EditPlan]:
    """Edits that keep the song's opening and its ending with one cut between: from the start to a
    bar end, then from a downbeat to the song's end, the bar end chosen to bring it nearest the
    target. Of those that keep the length promise, ``count`` spread evenly over the song (None: every one)."""
    durations = analysis.beat_ends_s - analysis.beats_s
    head = np.cumsum(durations)  # head[i]: length of beats 0..i
    tail = np.cumsum(durations[::-1])[::-1]  # tail[j]: length of beats j..n-1
    downbeats = np.flatnonzero(analysis.bar_pos == 0)
    landings = [int(j) for j in downbeats[1:] if ((downbeats > 0) & (downbeats < j)).any()]
    orders = []
    for j in landings:
        leaves = downbeats[(downbeats > 0) & (downbeats < j)] - 1
        i = int(leaves[np.argmin(np.abs(head[leaves] + tail[j] - target_seconds))])
        orders.append(list(range(i + 1)) + list(range(j, analysis.n_beats)))
    return _chosen(analysis, orders, ended=[False] * len(orders), target_seconds=target_seconds, count=count)


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


def random_edit(analysis: SongAnalysis, *, target_seconds: float, config: Config = Config(), seed: int = 0, temperature: float = 1.0,
                keep_promise: bool = True, **_: object) -> EditPlan:
    """One episode of the random policy on ``analysis`` toward ``target_seconds``."""
    env_config = replace(config.env, planner_hint=False)  # it never reads the hint: no re-planning at every step
    env = MusicEditEnv([analysis], config=env_config, reward=config.reward, search=config.search)
    info, _ = rollout(env, random_policy(temperature), seed=seed, options={"song_index": 0, "target_seconds": target_seconds})
    if keep_promise:
        return env.promised_plan()
    if info["plan"] is None:
        raise EditorRLError(f"{analysis.song_id}: the random policy kept no beats (seed {seed}); try another seed")
    return info["plan"]


def search_edit(analysis: SongAnalysis, *, target_seconds: float, config: Config = Config(), bonus: np.ndarray | None = None,
                keep_promise: bool = True, **_: object) -> EditPlan:
    """The cheapest bar-aligned path through the song that hits the target (:mod:`editor_rl.search.planner`).

    Parameters
    ----------
    analysis : SongAnalysis
    target_seconds : float
    config : Config
        ``config.search`` (penalties, start/end constraints) and ``config.reward`` (seam weights).
    bonus : np.ndarray [shape=(n_beats,)] or None
        Per-beat bonus for playing a beat (favours those beats).
    keep_promise : bool
        Repair a path that misses the target (rare: songs of very few bars).

    Raises
    ------
    InvalidEditError
        The target is not positive, is longer than the song, or the song is shorter than two bars.
    """
    check_target(analysis, target_seconds)
    grid, planner = planner_of(analysis, config)
    path = planner.path(target_seconds=target_seconds, bonus=bonus)
    return plan_of_path(analysis, path, target_seconds=target_seconds, config=config, keep_promise=keep_promise, planner=(grid, planner))


def plan_of_path(analysis: SongAnalysis, path: Path, *, target_seconds: float, config: Config, keep_promise: bool, planner: tuple[EditGrid, Planner]) -> EditPlan:
    """The plan of a planner's path (the plain cut where it found none and ``keep_promise``)."""
    grid = planner[0]
    order, ended = path.order, path.fade_out
    if not order:
        if not keep_promise:
            raise InvalidEditError(f"{analysis.song_id}: no bar-aligned edit of {target_seconds:.1f} s exists")
        order = plain_cut_order(grid, target_seconds)
        ended = order[-1] != grid.n_beats - 1
    return _finish(analysis, order, ended=ended, target_seconds=target_seconds, config=config, keep_promise=keep_promise, planner=planner)


def section_search_edits(analysis: SongAnalysis, *, target_seconds: float, config: Config = Config(), rng: np.random.Generator, count: int,
                         table: bool = False) -> list[EditPlan]:
    """``count`` searches, each with a random bonus on some phrases: well-made edits that keep other
    parts of the song (the same edits as ``count`` calls of :func:`section_search_edit` with ``rng``).

    ``table=False`` plans them in one batched forward programme (bonuses drawn once). ``table=True``
    plans each from a cost-to-go table of its bonus that the song's planner keeps: for bonuses that
    come back (an ``rng`` seeded by the song, as best of N does), a later target is a look-up.
    """
    check_target(analysis, target_seconds)
    phrase = np.cumsum(analysis.phrase_pos == 0)  # phrase index of each beat
    bonuses = np.stack([rng.choice([0.0, 0.0, 0.03, 0.08], size=int(phrase.max()) + 1)[phrase] for _ in range(count)]) if count else np.zeros((0, analysis.n_beats))
    grid, planner = planner_of(analysis, config)
    if table:
        paths = [planner.path(target_seconds=target_seconds, bonus=bonus, table=True) for bonus in bonuses]
    else:
        paths = planner.paths(target_seconds=target_seconds, bonuses=bonuses)
    return [plan_of_path(analysis, path, target_seconds=target_seconds, config=config, keep_promise=True, planner=(grid, planner)) for path in paths]


def section_search_edit(analysis: SongAnalysis, *, target_seconds: float, config: Config = Config(), rng: np.random.Generator) -> EditPlan:
    """The search with a random bonus on some phrases: a well-made edit that keeps other parts of the song."""
    return section_search_edits(analysis, target_seconds=target_seconds, config=config, rng=rng, count=1)[0]


BASELINES: dict[str, Callable[..., EditPlan]] = {"random": random_edit, "every_other_phrase": every_other_phrase, "plain_cut": plain_cut, "search": search_edit}


def baseline_edit(name: str, analysis: SongAnalysis, *, target_seconds: float, config: Config = Config(), seed: int = 0, temperature: float = 1.0) -> EditPlan:
    """Run the baseline called ``name`` (one of ``BASELINES``); the edit keeps the length promise.

    Raises
    ------
    EditorRLError
        Unknown name, or an impossible target.
    """
    if name not in BASELINES:
        raise EditorRLError(f"unknown baseline {name!r}; choose one of {', '.join(sorted(BASELINES))}")
    check_target(analysis, target_seconds)
    return BASELINES[name](analysis, target_seconds=target_seconds, config=config, seed=seed, temperature=temperature)
