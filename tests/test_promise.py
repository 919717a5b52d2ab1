"""The length promise: an edit that misses its target is completed by the planner; impossible targets are errors."""

import numpy as np
import pytest

from editor_rl.edit.actions import Action, EditGrid, EditState, apply_action
from editor_rl.search.planner import Planner
from editor_rl.search.promise import check_target, complete_to_target, keeps_promise, plain_cut_order, tolerance_seconds
from editor_rl.errors import InvalidEditError
from editor_rl.rewards import dense

from conftest import make_analysis


@pytest.fixture(scope="module")
def song():
    rng = np.random.default_rng(0)
    a = make_analysis(n_bars=24, features=rng.normal(size=(96, 125)).astype(np.float32))  # 48 s at 120 BPM
    grid = EditGrid.of(a)
    return a, grid, Planner(dense.song_tables(a), grid)


def _length(grid, actions) -> float:
    st = EditState()
    for x in actions:
        apply_action(grid, st, x)
    return st.out_seconds


def test_tolerance_is_five_percent_or_one_beat():
    assert tolerance_seconds(60.0, 0.5) == pytest.approx(3.0)
    assert tolerance_seconds(4.0, 0.5) == 0.5
    assert keeps_promise(31.4, 30.0, 0.5) and not keeps_promise(31.6, 30.0, 0.5)


def test_an_edit_on_target_is_left_alone(song):
    _, grid, planner = song
    acts = [Action.KEEP_PHRASE] * 6 + [Action.END]  # 6 phrases of 4 s = 24 s
    done = complete_to_target(grid, planner, acts, target_seconds=24.5)
    assert done.repair == "" and done.actions == [int(a) for a in acts] and done.order == list(range(48))


def test_an_edit_that_ends_too_early_is_completed_keeping_its_decisions(song):
    _, grid, planner = song
    acts = [Action.KEEP_PHRASE, Action.CUT_TO_PHRASE, Action.KEEP_PHRASE, Action.END]  # 8 s of a 30 s target
    done = complete_to_target(grid, planner, acts, target_seconds=30.0)
    assert keeps_promise(_length(grid, done.actions), 30.0, 0.5)
    assert done.actions[:3] == [int(a) for a in acts[:3]]  # the policy's own decisions are kept
    assert done.repair.startswith("planner completed the edit after the first 3 of 4")


def test_an_edit_that_plays_on_past_the_target_is_cut_back_and_completed(song):
    _, grid, planner = song
    acts = [Action.KEEP_PHRASE] * 10 + [Action.END]  # 40 s of a 20 s target
    done = complete_to_target(grid, planner, acts, target_seconds=20.0)
    assert keeps_promise(_length(grid, done.actions), 20.0, 0.5) and done.repair.startswith("planner completed")
    assert done.actions[:4] == [Action.KEEP_PHRASE] * 4  # the longest prefix that can still be finished


def test_an_edit_that_kept_nothing_falls_back_to_the_planner(song):
    _, grid, planner = song
    done = complete_to_target(grid, planner, [], target_seconds=20.0)
    assert keeps_promise(_length(grid, done.actions), 20.0, 0.5) and done.repair.startswith("replaced by the planner")


def test_plain_cut_is_within_half_a_beat(song):
    a, grid, _ = song
    for target in (3.3, 17.75, 40.1):
        order = plain_cut_order(grid, target)
        assert order == list(range(len(order))) and abs(grid.durations[order].sum() - target) <= 0.25 + 1e-9


def test_impossible_targets_are_errors(song):
    a, _, _ = song
    for bad, word in ((0.0, "positive"), (-1.0, "positive"), (float("nan"), "positive"), (a.duration_s + 1, "longer than")):
        with pytest.raises(InvalidEditError, match=word):
            check_target(a, bad)
    with pytest.raises(InvalidEditError, match="two bars"):
        check_target(make_analysis(n_bars=1), 1.0)
