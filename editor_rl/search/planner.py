"""The search planner: the cheapest bar-aligned way to finish an edit, from its start or from any point.

This is the dynamic programme behind the ``search`` baseline, the method of the search-based
remixers (radiotool, Remixatron, Audition's Remix): a path through the beat graph whose seams
leave at bar ends and land on downbeats (or, at an extra cost, at a half bar, which makes the
length adjustable in half bars), each seam costing ``1 − (weighted dense seam score) +
seam_penalty``, the length within a beat or two percent of the target where the song allows.

:meth:`Planner.path` plans from the song's start or from a partly made edit (the beat played
last, the cursor, the output length so far). The environment uses it to show the policy what the
search would do next (``env.planner_hint``): a policy can follow the planner where it agrees and
leave it where the learned reward says listeners want something else (keep the chorus, say); it
re-plans from wherever the policy went. An optional per-beat ``bonus`` makes the planner favour
some beats (candidate generators use random section bonuses to make varied, well-made edits).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from editor_rl.config import RewardConfig, SearchConfig
from editor_rl.edit.actions import EditGrid
from editor_rl.rewards import dense


class PlanStart(NamedTuple):
    """A partly made edit to plan from.

    Attributes
    ----------
    last : int
        Source beat played last (-1: nothing played yet).
    cursor : int
        First source beat the plan may play.
    out_seconds : float
        Output length so far, seconds.
    """

    last: int
    cursor: int
    out_seconds: float


class Path(NamedTuple):
    """A planned continuation: ``order`` (source beats to play next), ``fade_out`` (ends before the
    song's last beat) and its ``cost`` (lower is better)."""

    order: list[int]
    fade_out: bool
    cost: float


class Planner:
    """The search's dynamic programme over one song (precomputes its seam costs once).

    Parameters
    ----------
    tables : dense.SongTables
    grid : EditGrid
    reward : RewardConfig
        Weights of the seam components in the seam cost.
    search : SearchConfig
        Seam and half-bar penalties, start/end constraints.
    """

    def __init__(self, tables: dense.SongTables, grid: EditGrid, *, reward: RewardConfig = RewardConfig(), search: SearchConfig = SearchConfig()) -> None:
        self.t, self.grid, self.search = tables, grid, search
        w = np.array([reward.w_tempo, reward.w_energy, reward.w_phrase, reward.w_transition])
        self.w = w / w.sum()
        beats_per_bar = int(grid.bar_pos.max()) + 1
        self.half = beats_per_bar // 2 if beats_per_bar >= 4 and beats_per_bar % 2 == 0 else -1
        self.next_pos = np.append(grid.bar_pos[1:], 0)  # position of the beat after each beat (0 after the last)
        self.src = np.flatnonzero((self.next_pos == 0) | (self.next_pos == self.half))
        self.dst = np.flatnonzero((grid.bar_pos == 0) | (grid.bar_pos == self.half))
        jump = 1.0 - dense.seam_scores(tables, self.src[:, None], self.dst[None, :]) @ self.w + search.seam_penalty
        jump += np.where((self.next_pos[self.src][:, None] == self.half) | (grid.bar_pos[self.dst][None, :] == self.half), search.half_bar_penalty, 0.0)
        jump[self.dst[None, :] <= self.src[:, None] + 1] = np.inf
        self.jump = jump
        self.bar_end = np.flatnonzero(self.next_pos == 0)  # where an edit may end with a fade
        self.end_cost = np.array([1.0 - dense.end_score(tables, e) for e in range(grid.n_beats)])
        self.median_beat = float(np.median(grid.durations))

    def _first_row(self, start: PlanStart | None, keep_start: bool) -> np.ndarray:
        """Cost of each beat as the first one the plan plays [shape=(n,)]."""
        n, t = self.grid.n_beats, self.t
        row = np.full(n, np.inf)
        if start is None:
            if keep_start:
                row[0] = 0.0
            else:
                starts = np.flatnonzero(t.phrase_pos == 0)
                row[starts] = 1.0 - np.array([dense.start_score(t, s) for s in starts])
            return row
        j = np.arange(start.cursor, n)
        if start.last < 0:
            row[j] = 1.0 - np.array([dense.start_score(t, s) for s in j])
            return row
        on_bar = (self.next_pos[start.last] == 0) & (self.grid.bar_pos[j] == 0)
        on_half = np.isin(self.next_pos[start.last], (0, self.half)) & np.isin(self.grid.bar_pos[j], (0, self.half))
        cost = 1.0 - dense.seam_scores(t, np.full(len(j), start.last), j) @ self.w + self.search.seam_penalty
        cost += np.where(on_bar, 0.0, np.where(on_half, 1.0, 2.0) * self.search.half_bar_penalty)
        row[j] = np.where(j == start.last + 1, 0.0, cost)
        return row

    def _solve(self, target_seconds: float, start: PlanStart | None, bonus: np.ndarray | None, keep_start: bool, keep_end: bool) -> Path:
        n, d = self.grid.n_beats, self.grid.durations
        done = 0.0 if start is None else start.out_seconds
        k_max = max(1, min(int(np.ceil(1.15 * max(target_seconds - done, 0.0) / self.median_beat)) + 4, 4 * n))
        cost = np.full((k_max + 1, n), np.inf)
        secs = np.zeros((k_max + 1, n))
        back = np.full((k_max + 1, n), -1, dtype=np.int64)
        cost[1] = self._first_row(start, keep_start) - (0.0 if bonus is None else bonus)
        secs[1] = done + d
        # A plan from a partial edit only plays beats from the cursor on: seams before it cannot be
        # used, so the DP runs on that corner of the (sorted) seam table, a view, not a copy.
        lo = 0 if start is None else start.cursor
        si, di = int(np.searchsorted(self.src, lo)), int(np.searchsorted(self.dst, lo))
        src, dst, jump = self.src[si:], self.dst[di:], self.jump[si:, di:]
        cols = np.arange(len(dst))
        for k in range(2, k_max + 1):
            prev = cost[k - 1]
            new = np.full(n, np.inf)
            new[1:] = prev[:-1]
            bk = np.arange(n) - 1
            if len(src) and len(dst):  # no seams are left near the end of the song
                via = prev[src][:, None] + jump
                best = via.argmin(axis=0)
                val = via[best, cols]
                better = val < new[dst]
                new[dst[better]] = val[better]
                bk[dst[better]] = src[best[better]]
            if bonus is not None:
                new = new - bonus
            cost[k], back[k] = new, bk
            ok = bk >= 0
            secs[k, ok] = secs[k - 1, bk[ok]] + d[ok]
        ends = np.array([n - 1]) if keep_end else self.bar_end
        err = np.abs(secs[:, ends] - target_seconds) / target_seconds
        total = cost[:, ends] + self.end_cost[ends][None, :] + _length_cost(err)
        total[0] = np.inf
        k, e = np.unravel_index(np.argmin(total), total.shape)
        best = Path([], True, np.inf)
        if np.isfinite(total[k, e]):
            order = [int(ends[e])]
            for kk in range(int(k), 1, -1):
                order.append(int(back[kk, order[-1]]))
            best = Path(order[::-1], int(ends[e]) != n - 1, float(total[k, e]))
        if start is not None and start.last >= 0:  # or end right here
            now = self.end_cost[start.last] + float(_length_cost(abs(done - target_seconds) / target_seconds))
            if now < best.cost:
                best = Path([], True, float(now))
        return best

    def path(self, *, target_seconds: float, start: PlanStart | None = None, bonus: np.ndarray | None = None) -> Path:
        """The cheapest continuation to ``target_seconds`` of output in all.

        Parameters
        ----------
        target_seconds : float
            Target length of the whole edit, seconds.
        start : PlanStart or None
            The edit so far; None plans from the song's start (honouring ``search.keep_start``).
        bonus : np.ndarray [shape=(n_beats,)] or None
            Subtracted from the cost each time a beat is played.

        Returns
        -------
        Path
            ``order`` empty with finite cost: end here. Infinite cost: no continuation exists.
        """
        sc = self.search
        best = self._solve(target_seconds, start, bonus, sc.keep_start, sc.keep_end)
        if best.cost > 5.0:  # nothing within ~5 %: relax the start and end constraints
            relaxed = self._solve(target_seconds, start, bonus, False, False)
            if relaxed.cost < best.cost:
                best = relaxed
        return best


def _length_cost(err: np.ndarray | float) -> np.ndarray:
    """Cost of a relative length error: mild past 2 %, steep past 4.5 %."""
    return 5.0 * np.maximum(0.0, err - 0.02) + 100.0 * np.maximum(0.0, err - 0.045)
