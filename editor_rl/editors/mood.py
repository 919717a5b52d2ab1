"""Edits asked for a mood: the search steered toward the beats that sound like it, and the windows
nearest it.

A request's mood (:class:`~editor_rl.audio.mood.Mood`) is compared with every beat's estimated
arousal and valence (``analysis.mood``). The planner gets a per-beat bonus for beats nearer the
mood than the song's average beat (and a cost for those farther), ``search.mood_bonus`` per unit of
distance, at several strengths (:data:`STRENGTHS`); a mood edit may start and end anywhere in the
song (an energetic 30 s rarely starts at a calm intro), ending with a fade where it does not reach
the song's end. Best of N adds these and the windows nearest the mood to its candidates and weighs
each candidate's mood distance against the reward model's value (``pick.mood_weight``).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from editor_rl.audio.analysis import SongAnalysis
from editor_rl.audio.mood import Mood, mood_bonus, mood_distance
from editor_rl.config import Config
from editor_rl.edit.plan import EditPlan
from editor_rl.editors.baselines import plan_of_path, planner_of, window_edits
from editor_rl.search.planner import free_search
from editor_rl.search.promise import check_target

STRENGTHS = (0.5, 1.0, 2.0)
"""Multiples of ``search.mood_bonus`` the mood searches are planned with."""


def edit_mood_distance(analysis: SongAnalysis, plan: EditPlan, mood: Mood) -> float:
    """How far an edit sounds from the mood: the mean distance over its output time, by the analysis."""
    return mood_distance(analysis.mood, list(plan.beat_order), mood, weights=analysis.beat_ends_s - analysis.beats_s)


def _free(config: Config) -> Config:
    """The config whose search may start and end anywhere (a mood edit's)."""
    return replace(config, search=free_search(config.search))


def mood_search_edits(analysis: SongAnalysis, *, target_seconds: float, mood: Mood, config: Config = Config(),
                      strengths: tuple[float, ...] = STRENGTHS) -> list[EditPlan]:
    """The search steered toward ``mood`` at each of ``strengths`` (free start and end), each keeping
    the length promise. The bonuses are fixed by the song and the mood, so their cost-to-go tables
    are kept with the song's planner and a new target is a look-up.

    Raises
    ------
    InvalidEditError
        An impossible target.
    """
    check_target(analysis, target_seconds)
    free = _free(config)
    grid, planner = planner_of(analysis, free)
    out = []
    for s in strengths:
        bonus = mood_bonus(analysis.mood, mood, scale=s * config.search.mood_bonus)
        path = planner.path(target_seconds=target_seconds, bonus=bonus, table=True)
        out.append(plan_of_path(analysis, path, target_seconds=target_seconds, config=free, keep_promise=True, planner=(grid, planner)))
    return out


def mood_window_edits(analysis: SongAnalysis, *, target_seconds: float, mood: Mood, count: int) -> list[EditPlan]:
    """The ``count`` windows (no cut inside) nearest the mood, nearest first."""
    windows = window_edits(analysis, target_seconds=target_seconds)
    order = np.argsort([edit_mood_distance(analysis, w, mood) for w in windows], kind="stable")
    return [windows[int(k)] for k in order[:count]]


def matches_measured(analysis: SongAnalysis, plan: EditPlan, mood: Mood, *, quantile: float = 0.2) -> bool:
    """Whether the edit is, as the mood model measures it, at least as near the mood as the song's
    best ``quantile`` of windows of its length (the analysis's version of
    :func:`editor_rl.raters.moods.matches_mood`, for songs without a truth)."""
    windows = window_edits(analysis, target_seconds=plan.duration_s) or [plan]
    bar = float(np.quantile([edit_mood_distance(analysis, w, mood) for w in windows], quantile))
    return edit_mood_distance(analysis, plan, mood) <= bar + 1e-9
