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

Two solvers share one cost model. A plan without a bonus — the search's edit, and every re-plan
the environment asks for — reads a cost-to-go table (:class:`CostToGo`), ``V[r, j]``: the
cheapest way to play ``r`` beats starting on ``j`` and end. It depends on neither the target nor
the start, so it is filled once per song (rows added as longer plans are asked for; :func:`planner_for`
keeps the planners of recent songs) and a plan is one look-up over its rows. A plan with a bonus runs
the forward programme, ``cost[k, b]``: the cheapest way to play ``k`` beats ending on ``b``. The
two keep the length of a different path where costs tie, so they may differ; the table's plan is
never the costlier (``tests/test_planner.py``).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import replace
from collections import OrderedDict
from typing import NamedTuple

import numpy as np

from editor_rl.audio.analysis import SongAnalysis
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


class ToGoRows(NamedTuple):
    """The filled rows of a :class:`CostToGo` table (row ``r - 1`` is for ``r`` beats).

    Attributes
    ----------
    value : np.ndarray [shape=(rows, n_beats)]
        Cost of playing ``r`` beats starting on each beat and then ending (seams and the end's
        cost; the first beat's own cost is the caller's); ``inf`` where no such path exists.
    seconds : np.ndarray [shape=(rows, n_beats)]
        That path's output length, seconds.
    step : np.ndarray [shape=(rows, n_beats)]
        That path's second beat (-1: it ends on the first).
    """

    value: np.ndarray
    seconds: np.ndarray
    step: np.ndarray

    def order(self, first: int, beats: int) -> list[int]:
        """The beats of the cheapest ``beats``-beat path starting on ``first``."""
        out, r = [first], beats - 1
        while r > 0:
            out.append(int(self.step[r, out[-1]]))
            r -= 1
        return out


class CostToGo:
    """The cheapest way to finish an edit from any beat, for any number of beats (optionally with a
    per-beat bonus, subtracted for every beat played).

    Rows are added on demand (:meth:`rows`); a reader gets an immutable snapshot, so threads may
    share one table.

    Parameters
    ----------
    jump : np.ndarray [shape=(n_src, n_dst)]
        Seam costs from the planner's seam sources to its destinations.
    src, dst : np.ndarray [shape=(n_src,), (n_dst,)]
        The beats seams may leave from and land on.
    end_cost : np.ndarray [shape=(n_beats,)]
        Cost of ending on each beat; ``inf`` where an edit may not end.
    durations : np.ndarray [shape=(n_beats,)]
        Beat durations, seconds.
    bonus : np.ndarray [shape=(n_beats,)] or None
        Subtracted from the cost of every beat played; the first beat's too (the caller's first
        cost is then the seam into it only).
    """

    def __init__(self, *, jump: np.ndarray, src: np.ndarray, dst: np.ndarray, end_cost: np.ndarray, durations: np.ndarray,
                 bonus: np.ndarray | None = None) -> None:
        self.jump, self.src, self.dst, self.durations = jump, src, dst, durations
        self.bonus = None if bonus is None else np.asarray(bonus, dtype=np.float64)
        n = len(durations)
        first = end_cost.astype(np.float64) - (0.0 if self.bonus is None else self.bonus)
        self._rows = ToGoRows(first[None, :], durations[None, :].astype(np.float64), np.full((1, n), -1, dtype=np.int64))

    def rows(self, count: int) -> ToGoRows:
        """The table with at least ``count`` rows (filled now if needed, at least doubling what is there)."""
        have = self._rows
        if count <= len(have.value):
            return have
        old, n = len(have.value), len(self.durations)
        count = max(count, 2 * old)
        value = np.vstack([have.value, np.full((count - old, n), np.inf)])
        seconds = np.vstack([have.seconds, np.zeros((count - old, n))])
        step = np.vstack([have.step, np.full((count - old, n), -1, dtype=np.int64)])
        beats = np.arange(n)
        for r in range(old, count):
            nxt = value[r - 1]
            new = np.full(n, np.inf)
            new[:-1] = nxt[1:]
            to = np.where(beats + 1 < n, beats + 1, -1)
            if len(self.src) and len(self.dst):
                via = self.jump + nxt[self.dst][None, :]
                best = via.argmin(axis=1)
                val = via[np.arange(len(self.src)), best]
                better = val < new[self.src]
                new[self.src[better]] = val[better]
                to[self.src[better]] = self.dst[best[better]]
            if self.bonus is not None:
                new -= self.bonus
            ok = np.isfinite(new)
            value[r] = new
            step[r, ok] = to[ok]
            seconds[r, ok] = self.durations[ok] + seconds[r - 1, to[ok]]
        self._rows = ToGoRows(value, seconds, step)
        return self._rows


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
        self.jump, self.jump_t = jump, np.ascontiguousarray(jump.T)
        self.bar_end = np.flatnonzero(self.next_pos == 0)  # where an edit may end with a fade
        self.end_cost = np.array([1.0 - dense.end_score(tables, e) for e in range(grid.n_beats)])
        self.start_cost = np.array([1.0 - dense.start_score(tables, b) for b in range(grid.n_beats)])
        self.median_beat = float(np.median(grid.durations))
        self._to_go: OrderedDict[tuple, CostToGo] = OrderedDict()
        self._to_go_lock = threading.Lock()
        self._seam_rows: dict[int, np.ndarray] = {}  # _seam_row's, by the beat left

    def cost_to_go(self, *, keep_end: bool, bonus: np.ndarray | None = None) -> CostToGo:
        """The song's cost-to-go table for an end constraint and a bonus (made at first use; the
        tables of the :data:`_BONUS_TABLES_KEPT` bonuses used last are kept beside the plain ones)."""
        key = (keep_end, None if bonus is None else hashlib.blake2b(np.asarray(bonus, dtype=np.float64).tobytes(), digest_size=16).digest())
        with self._to_go_lock:
            if key in self._to_go:
                self._to_go.move_to_end(key)
                return self._to_go[key]
        n = self.grid.n_beats
        ends = np.array([n - 1]) if keep_end else self.bar_end
        end_cost = np.full(n, np.inf)
        end_cost[ends] = self.end_cost[ends]
        table = CostToGo(jump=self.jump, src=self.src, dst=self.dst, end_cost=end_cost, durations=self.grid.durations, bonus=bonus)
        with self._to_go_lock:
            table = self._to_go.setdefault(key, table)
            bonused = [k for k in self._to_go if k[1] is not None]
            for old in bonused[: max(0, len(bonused) - _BONUS_TABLES_KEPT)]:
                del self._to_go[old]
        return table

    def _first_row(self, start: PlanStart | None, keep_start: bool) -> np.ndarray:
        """Cost of each beat as the first one the plan plays [shape=(n,)]."""
        n, t = self.grid.n_beats, self.t
        row = np.full(n, np.inf)
        if start is None:
            if keep_start:
                row[0] = 0.0
            else:
                starts = np.flatnonzero(t.phrase_pos == 0)
                row[starts] = self.start_cost[starts]
            return row
        if start.last < 0:
            row[start.cursor :] = self.start_cost[start.cursor :]
            return row
        row[start.cursor :] = self._seam_row(start.last)[start.cursor :]
        return row

    def _seam_row(self, last: int) -> np.ndarray:
        """Cost of going on from beat ``last`` to each beat (0 to the next one) [shape=(n,)], made
        once per beat: every re-plan from it reads the same row (a policy re-plans at each step it
        leaves the hint)."""
        row = self._seam_rows.get(last)
        if row is None:
            j = np.arange(self.grid.n_beats)
            leaves, lands = self.next_pos[last], self.grid.bar_pos
            on_bar = (leaves == 0) & (lands == 0)
            on_half = (leaves == 0 or leaves == self.half) & ((lands == 0) | (lands == self.half))
            cost = 1.0 - dense.seam_scores(self.t, np.full(len(j), last), j) @ self.w + self.search.seam_penalty
            cost += np.where(on_bar, 0.0, np.where(on_half, 1.0, 2.0) * self.search.half_bar_penalty)
            row = self._seam_rows.setdefault(last, np.where(j == last + 1, 0.0, cost))
        return row

    def _k_max(self, target_seconds: float, done: float) -> int:
        """The most beats a plan of ``target_seconds − done`` may play."""
        return max(1, min(int(np.ceil(1.15 * max(target_seconds - done, 0.0) / self.median_beat)) + 4, 4 * self.grid.n_beats))

    def _look_up(self, target_seconds: float, start: PlanStart | None, keep_start: bool, keep_end: bool, bonus: np.ndarray | None = None) -> Path:
        """The cheapest plan read from the cost-to-go table (of ``bonus``, when given).

        Without a bonus, only the rows whose plans could land within ``_BAND`` of the target are
        read first; every other row's length cost alone is more than :data:`_OFF_BAND_COST` (no
        other cost is negative), so a cheaper answer from the band is the answer over all rows. A
        bonus makes costs negative: then every row is read.
        """
        done, lo = (0.0, 0) if start is None else (start.out_seconds, start.cursor)
        k_max = self._k_max(target_seconds, done)
        to_go = self.cost_to_go(keep_end=keep_end, bonus=bonus).rows(k_max)
        d = self.grid.durations
        first = self._first_row(start, keep_start)[lo:]
        left, slack = target_seconds - done, _BAND * target_seconds
        r_lo = max(0, int((left - slack) / d.max()) - 1) if bonus is None else 0
        r_hi = min(k_max, int(np.ceil((left + slack) / d.min())) + 1) if bonus is None else k_max
        best = self._best_in(to_go, first, lo, r_lo, r_hi, target_seconds, done)
        if not best.cost < _OFF_BAND_COST and (r_lo > 0 or r_hi < k_max):
            best = self._best_in(to_go, first, lo, 0, k_max, target_seconds, done)
        return self._or_end_here(best, target_seconds, start)

    def _best_in(self, to_go: ToGoRows, first: np.ndarray, lo: int, r_lo: int, r_hi: int, target_seconds: float, done: float) -> Path:
        """The cheapest plan of ``r_lo + 1`` … ``r_hi`` beats starting on a beat from ``lo`` on."""
        if r_hi <= r_lo or not len(first):
            return Path([], True, np.inf)
        err = np.abs(done + to_go.seconds[r_lo:r_hi, lo:] - target_seconds) / target_seconds
        total = first[None, :] + to_go.value[r_lo:r_hi, lo:] + _length_cost(err)
        r, j = np.unravel_index(np.argmin(total), total.shape)
        if not np.isfinite(total[r, j]):
            return Path([], True, np.inf)
        order = to_go.order(int(j) + lo, int(r) + r_lo + 1)
        return Path(order, order[-1] != self.grid.n_beats - 1, float(total[r, j]))

    def _or_end_here(self, best: Path, target_seconds: float, start: PlanStart | None) -> Path:
        """``best``, or ending the edit right now where that costs less."""
        if start is not None and start.last >= 0:
            now = self.end_cost[start.last] + float(_length_cost(abs(start.out_seconds - target_seconds) / target_seconds))
            if now < best.cost:
                return Path([], True, float(now))
        return best

    def _solve(self, target_seconds: float, start: PlanStart | None, bonus: np.ndarray | None, keep_start: bool, keep_end: bool,
               table: bool = False) -> Path:
        if bonus is None or table:
            return self._look_up(target_seconds, start, keep_start, keep_end, bonus)
        return self._forward(target_seconds, start, np.asarray(bonus, dtype=np.float64)[None, :], keep_start, keep_end)[0]

    def _forward(self, target_seconds: float, start: PlanStart | None, bonus: np.ndarray, keep_start: bool, keep_end: bool) -> list[Path]:
        """The forward programme (see the module docstring) for a batch of bonuses [shape=(B, n)]: one plan each."""
        n, d, batch = self.grid.n_beats, self.grid.durations, len(bonus)
        done = 0.0 if start is None else start.out_seconds
        k_max = self._k_max(target_seconds, done)
        cost = np.full((k_max + 1, batch, n), np.inf)
        secs = np.zeros((k_max + 1, batch, n))
        back = np.full((k_max + 1, batch, n), -1, dtype=np.int64)
        cost[1] = self._first_row(start, keep_start)[None, :] - bonus
        secs[1] = done + d
        # A plan from a partial edit only plays beats from the cursor on, and a plan that has played
        # k - 1 beats is past the first beat it can be on (beats only move forward; a bonus is
        # finite, so this is the same for the whole batch): seams from before either cannot be
        # used, so each step runs on that corner of the (sorted) seam table — the same minimum, on
        # about half the table.
        lo = 0 if start is None else start.cursor
        for k in range(2, k_max + 1):
            prev = cost[k - 1]
            new = np.full((batch, n), np.inf)
            new[:, 1:] = prev[:, :-1]
            bk = np.broadcast_to(np.arange(n) - 1, (batch, n)).copy()
            reach = np.isfinite(prev[0])
            first = max(lo, int(np.argmax(reach))) if reach.any() else n
            si, di = int(np.searchsorted(self.src, first)), int(np.searchsorted(self.dst, first + 2))
            if si < len(self.src) and di < len(self.dst):  # no seams are left near the end of the song
                src, dst = self.src[si:], self.dst[di:]
                via = self.jump_t[di:, si:][None, :, :] + prev[:, src][:, None, :]  # [batch, dst, src]: the min over sources along contiguous rows
                best = via.argmin(axis=2)
                val = np.take_along_axis(via, best[:, :, None], axis=2)[:, :, 0]
                better = val < new[:, dst]
                new[:, dst] = np.where(better, val, new[:, dst])
                bk[:, dst] = np.where(better, src[best], bk[:, dst])
            new = new - bonus
            cost[k], back[k] = new, bk
            ok = bk >= 0
            secs[k][ok] = secs[k - 1][np.nonzero(ok)[0], bk[ok]] + np.broadcast_to(d, (batch, n))[ok]
        ends = np.array([n - 1]) if keep_end else self.bar_end
        return [self._best_end(cost[:, i], secs[:, i], back[:, i], ends, target_seconds, start) for i in range(batch)]

    def _best_end(self, cost: np.ndarray, secs: np.ndarray, back: np.ndarray, ends: np.ndarray, target_seconds: float, start: PlanStart | None) -> Path:
        """The cheapest plan of one forward table [shape=(k_max + 1, n)], traced back from its best end."""
        n = self.grid.n_beats
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
        return self._or_end_here(best, target_seconds, start)

    def paths(self, *, target_seconds: float, bonuses: np.ndarray) -> list[Path]:
        """:meth:`path` from the song's start for each of several bonuses [shape=(B, n_beats)], in one
        batched forward programme (the same plans as one at a time)."""
        sc = self.search
        if not len(bonuses):
            return []
        out = self._forward(target_seconds, None, np.asarray(bonuses, dtype=np.float64), sc.keep_start, sc.keep_end)
        return [self._relaxed(p, target_seconds, None, bonus) for p, bonus in zip(out, bonuses)]

    def _relaxed(self, best: Path, target_seconds: float, start: PlanStart | None, bonus: np.ndarray | None, table: bool = False) -> Path:
        """``best``, or the plan without the start and end constraints where nothing came within ~5 %."""
        if best.cost > 5.0:
            relaxed = self._solve(target_seconds, start, bonus, False, False, table)
            if relaxed.cost < best.cost:
                return relaxed
        return best

    def path(self, *, target_seconds: float, start: PlanStart | None = None, bonus: np.ndarray | None = None, table: bool = False) -> Path:
        """The cheapest continuation to ``target_seconds`` of output in all.

        Parameters
        ----------
        target_seconds : float
            Target length of the whole edit, seconds.
        start : PlanStart or None
            The edit so far; None plans from the song's start (honouring ``search.keep_start``).
        bonus : np.ndarray [shape=(n_beats,)] or None
            Subtracted from the cost each time a beat is played.
        table : bool
            With a bonus: plan from a cost-to-go table of that bonus, kept for the next plan with
            it (for a bonus used again and again, e.g. per song, at any target) instead of the
            forward programme (for a bonus used once).

        Returns
        -------
        Path
            ``order`` empty with finite cost: end here. Infinite cost: no continuation exists.
        """
        sc = self.search
        return self._relaxed(self._solve(target_seconds, start, bonus, sc.keep_start, sc.keep_end, table), target_seconds, start, bonus, table)


def free_search(search: SearchConfig) -> SearchConfig:
    """The search config of a plan that may start and end anywhere in the song (a mood's)."""
    return replace(search, keep_start=False, keep_end=False)


_PLANNERS: OrderedDict[tuple, Planner] = OrderedDict()
_PLANNERS_LOCK = threading.Lock()
_PLANNERS_KEPT = 16
_BONUS_TABLES_KEPT = 8  # per planner: best of N's section searches use 4 per song


def _content_key(analysis: SongAnalysis) -> tuple:
    """What makes two analyses' planners the same: content, analysis version, length and a digest of beats and features."""
    digest = hashlib.blake2b(digest_size=16)
    for array in (analysis.beats_s, analysis.bar_pos, analysis.phrase_pos, analysis.features):
        digest.update(np.ascontiguousarray(array).tobytes())
    return analysis.content_hash, analysis.version, analysis.duration_s, digest.hexdigest()


def planner_for(analysis: SongAnalysis, *, reward: RewardConfig = RewardConfig(), search: SearchConfig = SearchConfig()) -> Planner:
    """The planner of ``analysis`` under these configs, made once and kept for the 16 songs planned
    most recently (keyed by the analysis' content, so a re-analysed or re-uploaded song reuses it
    only when its beats and features are the same)."""
    key = (*analysis.derive("planner_key", lambda: _content_key(analysis)), reward, search)  # hashed once per analysis object
    with _PLANNERS_LOCK:
        if key in _PLANNERS:
            _PLANNERS.move_to_end(key)
            return _PLANNERS[key]
    planner = Planner(dense.song_tables(analysis), EditGrid.of(analysis), reward=reward, search=search)
    with _PLANNERS_LOCK:
        _PLANNERS[key] = planner
        while len(_PLANNERS) > _PLANNERS_KEPT:
            _PLANNERS.popitem(last=False)
    return planner


_BAND = 0.1  # relative length error a re-plan looks within first
_OFF_BAND_COST = 5.0 * (_BAND - 0.02) + 100.0 * (_BAND - 0.045)  # the least length cost outside it


def _length_cost(err: np.ndarray | float) -> np.ndarray:
    """Cost of a relative length error: mild past 2 %, steep past 4.5 %."""
    return 5.0 * np.maximum(0.0, err - 0.02) + 100.0 * np.maximum(0.0, err - 0.045)
