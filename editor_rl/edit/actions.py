"""The editing actions, what each one does, and when each one is allowed.

An edit walks the source beat by beat. At each decision the *cursor* points at the next source
beat that could be played, and the output so far is a list of source beat indices. Actions:

=====  ==============  ===========================================================================
id     name            effect
=====  ==============  ===========================================================================
0      KEEP            play the cursor beat; cursor +1
1      KEEP_BAR        play from the cursor to the end of its bar; cursor → next downbeat
2      KEEP_PHRASE     play from the cursor to the end of its phrase; cursor → next phrase start
3      CUT             skip the cursor beat; cursor +1
4      CUT_TO_BAR      skip to the next downbeat (the cursor beat is not played)
5      CUT_TO_PHRASE   skip to the next phrase start
6      LOOP_BEAT       play the last played beat again; cursor stays
7      LOOP_BAR        play the last played bar again (it must have been played whole); cursor stays
8      END             stop here; the render fades out
=====  ==============  ===========================================================================

Mask rules (:func:`action_mask`): a cut may not skip past the song's end (no downbeat or phrase
start ahead → that cut is masked); loops need something played (a whole bar for LOOP_BAR) and at
most ``max_consecutive_loops`` in a row; END needs at least ``min_end_seconds`` of output; once the
output reaches ``max_seconds`` only END is allowed. KEEP is always allowed while beats remain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import NamedTuple

import numpy as np

from editor_rl.errors import InvalidEditError


class Action(IntEnum):
    """Editing actions (values are the policy's discrete action ids)."""

    KEEP = 0
    KEEP_BAR = 1
    KEEP_PHRASE = 2
    CUT = 3
    CUT_TO_BAR = 4
    CUT_TO_PHRASE = 5
    LOOP_BEAT = 6
    LOOP_BAR = 7
    END = 8


N_ACTIONS = len(Action)
ACTION_NAMES: tuple[str, ...] = tuple(a.name for a in Action)
CUT_ACTIONS = frozenset({Action.CUT, Action.CUT_TO_BAR, Action.CUT_TO_PHRASE})
LOOP_ACTIONS = frozenset({Action.LOOP_BEAT, Action.LOOP_BAR})


class EditGrid(NamedTuple):
    """Per-song arrays that make every action O(1).

    Attributes
    ----------
    n_beats : int
    durations : np.ndarray [shape=(n,), dtype=float64]
        Each beat's length, seconds.
    bar_pos : np.ndarray [shape=(n,), dtype=int64]
    next_downbeat : np.ndarray [shape=(n,), dtype=int64]
        First downbeat strictly after each beat, or -1.
    next_phrase : np.ndarray [shape=(n,), dtype=int64]
        First phrase start strictly after each beat, or -1.
    bar_start : np.ndarray [shape=(n,), dtype=int64]
        The downbeat that opens each beat's bar (-1 for a pickup before the first downbeat).
    seconds : tuple of float
        ``durations`` as Python floats (what an action adds up beat by beat: the same sums, faster).
    """

    n_beats: int
    durations: np.ndarray
    bar_pos: np.ndarray
    next_downbeat: np.ndarray
    next_phrase: np.ndarray
    bar_start: np.ndarray
    seconds: tuple[float, ...]

    @classmethod
    def of(cls, analysis) -> "EditGrid":
        """The grid of a :class:`~editor_rl.audio.analysis.SongAnalysis`."""
        return cls.build(beat_starts_s=analysis.beats_s, beat_ends_s=analysis.beat_ends_s, bar_pos=analysis.bar_pos, phrase_pos=analysis.phrase_pos)

    @classmethod
    def build(cls, *, beat_starts_s: np.ndarray, beat_ends_s: np.ndarray, bar_pos: np.ndarray, phrase_pos: np.ndarray) -> "EditGrid":
        """Precompute from a song's beats and structure."""
        n = len(bar_pos)
        idx = np.arange(n)

        def nxt(flags: np.ndarray) -> np.ndarray:
            starts = np.flatnonzero(flags)
            k = np.searchsorted(starts, idx, side="right")
            return np.where(k < len(starts), starts[np.minimum(k, len(starts) - 1)], -1).astype(np.int64)

        is_down = np.asarray(bar_pos) == 0
        last_down = np.maximum.accumulate(np.where(is_down, idx, -1))
        durations = np.asarray(beat_ends_s, np.float64) - np.asarray(beat_starts_s, np.float64)
        return cls(
            n_beats=n, durations=durations, bar_pos=np.asarray(bar_pos, np.int64), next_downbeat=nxt(is_down),
            next_phrase=nxt(np.asarray(phrase_pos) == 0), bar_start=last_down.astype(np.int64), seconds=tuple(durations.tolist()),
        )


@dataclass
class EditState:
    """Where an edit stands (mutable; one per episode).

    Attributes
    ----------
    cursor : int
        Next source beat that could be played.
    order : list of int
        Source beats played, in output order.
    actions : list of int
        Actions taken.
    out_seconds : float
        Output length so far, seconds.
    run_length : int
        How many output beats at the end are consecutive source beats.
    consecutive_loops : int
        Loop actions in a row just before now.
    ended : bool
        END was taken.
    """

    cursor: int = 0
    order: list = field(default_factory=list)
    actions: list = field(default_factory=list)
    out_seconds: float = 0.0
    run_length: int = 0
    consecutive_loops: int = 0
    ended: bool = False

    def done(self, grid: EditGrid) -> bool:
        """True once END was taken or the song is used up."""
        return self.ended or self.cursor >= grid.n_beats


def last_bar(grid: EditGrid, state: EditState) -> tuple[int, int]:
    """Source span ``[start, stop)`` of the whole bar the output ends with, or ``(-1, -1)``."""
    if not state.order:
        return -1, -1
    last = state.order[-1]
    if last + 1 < grid.n_beats and grid.bar_pos[last + 1] != 0:
        return -1, -1
    start = int(grid.bar_start[last])
    if start < 0 or state.run_length < last - start + 1:
        return -1, -1
    return start, last + 1


def action_mask(grid: EditGrid, state: EditState, *, min_end_seconds: float, max_seconds: float, max_consecutive_loops: int = 2) -> np.ndarray:
    """Which actions are allowed now.

    Parameters
    ----------
    grid : EditGrid
    state : EditState
    min_end_seconds : float
        END is allowed once the output is at least this long, seconds.
    max_seconds : float
        From this output length on, only END is allowed, seconds.
    max_consecutive_loops : int
        Loops allowed in a row.

    Returns
    -------
    mask : np.ndarray [shape=(9,), dtype=float32]
        1.0 where allowed.
    """
    m = np.zeros(N_ACTIONS, dtype=np.float32)
    c = state.cursor
    if state.out_seconds >= max_seconds or c >= grid.n_beats:
        m[Action.END] = 1.0
        return m
    m[Action.KEEP] = m[Action.KEEP_BAR] = m[Action.KEEP_PHRASE] = 1.0
    m[Action.CUT] = float(c + 1 < grid.n_beats)
    m[Action.CUT_TO_BAR] = float(grid.next_downbeat[c] >= 0)
    m[Action.CUT_TO_PHRASE] = float(grid.next_phrase[c] >= 0)
    if state.order and state.consecutive_loops < max_consecutive_loops:
        m[Action.LOOP_BEAT] = 1.0
        m[Action.LOOP_BAR] = float(last_bar(grid, state)[0] >= 0)
    m[Action.END] = float(bool(state.order) and state.out_seconds >= min_end_seconds)
    return m


def apply_action(grid: EditGrid, state: EditState, action: int) -> list[int]:
    """Apply one allowed action to ``state`` in place.

    Returns
    -------
    played : list of int
        Source beats appended to the output by this action.
    """
    a = int(action)
    c = state.cursor
    played: list[int]
    if a == Action.KEEP:
        played, state.cursor = [c], c + 1
    elif a == Action.KEEP_BAR or a == Action.KEEP_PHRASE:
        nxt = int((grid.next_downbeat if a == Action.KEEP_BAR else grid.next_phrase)[c])
        stop = grid.n_beats if nxt < 0 else nxt
        played, state.cursor = list(range(c, stop)), stop
    elif a == Action.CUT:
        played, state.cursor = [], c + 1
    elif a == Action.CUT_TO_BAR or a == Action.CUT_TO_PHRASE:
        nxt = int((grid.next_downbeat if a == Action.CUT_TO_BAR else grid.next_phrase)[c])
        played, state.cursor = [], (grid.n_beats if nxt < 0 else nxt)
    elif a == Action.LOOP_BEAT:
        played = [state.order[-1]]
    elif a == Action.LOOP_BAR:
        start, stop = last_bar(grid, state)
        played = list(range(start, stop))
    else:
        played = []
        state.ended = True
    if played:  # consecutive source beats, always: the run goes on through them
        state.run_length = (state.run_length + 1 if state.order and played[0] == state.order[-1] + 1 else 1) + len(played) - 1
        state.order.extend(played)
        seconds, out = grid.seconds, state.out_seconds
        for b in played:
            out += seconds[b]
        state.out_seconds = out
    state.consecutive_loops = state.consecutive_loops + 1 if a in (Action.LOOP_BEAT, Action.LOOP_BAR) else 0
    state.actions.append(a)
    return played


def actions_for_order(grid: EditGrid, order: list[int], *, ended: bool, state: EditState | None = None) -> list[int]:
    """Actions that replay ``order`` (forward jumps and beat repeats only), from ``state`` (read, not
    changed; default: a fresh edit) on.

    Runs of consecutive beats are played with the biggest keeps that do not overshoot them
    (KEEP_PHRASE, then KEEP_BAR, then KEEP), forward gaps crossed with the biggest cuts that do not
    overshoot (CUT_TO_PHRASE, then CUT_TO_BAR, then CUT); a beat played again right after itself is
    LOOP_BEAT. So a plan takes few decisions, which is what a policy imitating it learns.

    Raises
    ------
    InvalidEditError
        ``order`` jumps backwards other than a repeat of the last beat.
    """
    cursor = 0 if state is None else state.cursor
    last = state.order[-1] if state is not None and state.order else None  # the beat played last
    acts: list[int] = []
    n, next_bar, next_phrase = grid.n_beats, grid.next_downbeat.tolist(), grid.next_phrase.tolist()
    order = [int(b) for b in order]
    run_end = [len(order)] * len(order)  # where the run of consecutive beats through each output beat ends
    for k in range(len(order) - 2, -1, -1):
        run_end[k] = run_end[k + 1] if order[k + 1] == order[k] + 1 else k + 1
    i = 0
    while i < len(order):
        b = order[i]
        if b == cursor:  # a run of consecutive beats: the biggest keeps that do not overshoot it
            run = run_end[i] - i
            for keep, nxt in ((Action.KEEP_PHRASE, next_phrase), (Action.KEEP_BAR, next_bar)):
                stop = nxt[b] if nxt[b] >= 0 else n
                if stop - b <= run and stop - b > 1:
                    acts.append(int(keep))
                    cursor, last = stop, stop - 1
                    i += stop - b
                    break
            else:
                acts.append(int(Action.KEEP))
                cursor, last = b + 1, b
                i += 1
            continue
        while cursor < b:  # a gap: the biggest cuts that do not overshoot it
            if 0 <= next_phrase[cursor] <= b:
                acts.append(int(Action.CUT_TO_PHRASE))
                cursor = next_phrase[cursor]
            elif 0 <= next_bar[cursor] <= b:
                acts.append(int(Action.CUT_TO_BAR))
                cursor = next_bar[cursor]
            else:
                acts.append(int(Action.CUT))
                cursor += 1
        if b == cursor:
            continue  # played by the keeps above
        if last is not None and b == last:
            acts.append(int(Action.LOOP_BEAT))
            i += 1
        else:
            raise InvalidEditError(f"beat order jumps back from {last} to {b}; not expressible")
    if ended:
        acts.append(int(Action.END))
    return acts
