"""The length promise: every edit editor-rl returns is within ±5 % of the target or one beat.

A user asks for 30 s and gets 30 s, give or take 5 % (or one beat, for short targets), whichever
editor made the edit. Policies are not perfect: one may END too early, run out of song, or play on
past the target. :func:`complete_to_target` repairs such an edit with the search planner: it keeps
the longest prefix of the editor's own decisions from which the planner can finish the edit within
the tolerance, and lets the planner finish it (end there with a fade, or continue to a good ending).
If no prefix can be finished, the planner's own edit from the start is used, and if even that misses
(a song with too few bars), a plain cut at the target with a fade-out, which is always within half
a beat. The repair is recorded on the plan (``EditPlan.repair``) so reports can count it.

A target no edit can meet — not a positive number, longer than the song, or a song shorter than two
bars — is an error (:func:`check_target`), never a silent miss.
"""

from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple, Sequence

import numpy as np

from editor_rl.edit.actions import Action, EditGrid, EditState, actions_for_order, apply_action
from editor_rl.search.planner import Planner, PlanStart
from editor_rl.errors import InvalidEditError

TOLERANCE = 0.05
"""Relative length tolerance of the promise (or one beat, whichever is larger)."""
MAX_PREFIXES = 24
"""Prefixes of the editor's decisions tried (latest first) before falling back to the planner's own edit."""


def check_target(analysis, target_seconds: float) -> None:
    """Reject a target that no edit of this song can meet.

    Parameters
    ----------
    analysis : SongAnalysis
    target_seconds : float

    Raises
    ------
    InvalidEditError
        Target not a positive number, longer than the song, or the song shorter than two bars.
    """
    name = analysis.song_id or analysis.path
    if not np.isfinite(target_seconds) or target_seconds <= 0:
        raise InvalidEditError(f"target_seconds={target_seconds}: must be a positive number of seconds")
    if target_seconds > analysis.duration_s:
        raise InvalidEditError(f"target_seconds={target_seconds}: longer than {name} ({analysis.duration_s:.1f} s)")
    if int((analysis.bar_pos == 0).sum()) < 2:
        raise InvalidEditError(f"{name}: shorter than two bars; nothing to edit")


def tolerance_seconds(target_seconds: float, beat_seconds: float) -> float:
    """How far an edit may be from the target, seconds: 5 % of it or one beat, whichever is larger."""
    return max(TOLERANCE * target_seconds, beat_seconds)


def keeps_promise(duration_s: float, target_seconds: float, beat_seconds: float) -> bool:
    """Whether an edit of ``duration_s`` keeps the promise for ``target_seconds``."""
    return abs(duration_s - target_seconds) <= tolerance_seconds(target_seconds, beat_seconds) + 1e-9


class Completed(NamedTuple):
    """An edit that keeps the promise.

    Attributes
    ----------
    order : list of int
        Source beat at each output beat.
    actions : list of int
        Actions that play it (the editor's kept decisions, then the planner's).
    fade_out : bool
        Whether it ends before the song's last beat (the render fades out).
    repair : str
        "" when the editor's own edit kept the promise; else what was done (for people and reports).
    """

    order: list[int]
    actions: list[int]
    fade_out: bool
    repair: str


def plain_cut_order(grid: EditGrid, target_seconds: float) -> list[int]:
    """Beats ``0..k`` whose total length is nearest ``target_seconds`` (a plain cut at the target)."""
    ends = np.cumsum(grid.durations)
    k = int(np.argmin(np.abs(ends - target_seconds)))
    return list(range(k + 1))


def _copy(state: EditState) -> EditState:
    return replace(state, order=list(state.order), actions=list(state.actions))


def _prefix_states(grid: EditGrid, actions: Sequence[int]) -> list[EditState]:
    """The edit's state after each prefix of ``actions`` (``[i]``: after the first ``i``), one replay."""
    state, out = EditState(), [EditState()]
    for a in actions:
        apply_action(grid, state, a)
        out.append(_copy(state))
    return out


def complete_to_target(grid: EditGrid, planner: Planner, actions: Sequence[int], *, target_seconds: float) -> Completed:
    """Keep the promise for an edit made of ``actions`` (see the module docstring).

    Parameters
    ----------
    grid : EditGrid
    planner : Planner
        The song's search planner.
    actions : sequence of int
        The editor's decisions, in order (may end with END).
    target_seconds : float

    Returns
    -------
    Completed
    """
    beat = float(np.median(grid.durations))
    acts = [int(a) for a in actions]
    states = _prefix_states(grid, acts)
    state = states[-1]
    if state.order and keeps_promise(state.out_seconds, target_seconds, beat):
        return Completed(list(state.order), acts, bool(state.ended), "")
    # Where a prefix can still be finished (not already too long).
    limit = target_seconds + tolerance_seconds(target_seconds, beat)
    body = [i for i in range(len(acts), 0, -1) if states[i].out_seconds <= limit and acts[i - 1] != Action.END]
    tried = 0
    for i in body:
        st = states[i]
        if not st.order:
            continue
        tried += 1
        path = planner.path(target_seconds=target_seconds, start=PlanStart(st.order[-1], st.cursor, st.out_seconds))
        if np.isfinite(path.cost):
            rest = actions_for_order(grid, path.order, ended=path.fade_out, state=st)
            done = _copy(st)
            for a in rest:
                apply_action(grid, done, a)
            if done.order and keeps_promise(done.out_seconds, target_seconds, beat):
                kept = "all" if i == len(acts) else f"the first {i} of {len(acts)}"
                return Completed(list(done.order), acts[:i] + rest, bool(done.ended), f"planner completed the edit after {kept} decisions")
        if tried >= MAX_PREFIXES:
            break
    path = planner.path(target_seconds=target_seconds)
    if path.order and keeps_promise(float(grid.durations[path.order].sum()), target_seconds, beat):
        rest = actions_for_order(grid, path.order, ended=path.fade_out)
        return Completed(list(path.order), rest, path.fade_out, "replaced by the planner's edit (no prefix could be finished)")
    order = plain_cut_order(grid, target_seconds)
    ended = order[-1] != grid.n_beats - 1
    return Completed(order, actions_for_order(grid, order, ended=ended), ended, "replaced by a plain cut at the target (the planner found no edit)")
