import numpy as np
import pytest

from conftest import make_analysis
from editor_rl.edit.actions import ACTION_NAMES, N_ACTIONS, Action, EditGrid, EditState, action_mask, apply_action
from editor_rl.edit.actions import actions_for_order


@pytest.fixture
def grid():
    return EditGrid.of(make_analysis(n_bars=4))  # 16 beats, 0.5 s each


def mask(grid, st, **kw):
    kw = {"min_end_seconds": 2.0, "max_seconds": 7.0, "max_consecutive_loops": 2, **kw}
    return {ACTION_NAMES[i] for i in np.flatnonzero(action_mask(grid, st, **kw))}


def test_nine_documented_actions():
    assert N_ACTIONS == 9 and ACTION_NAMES[0] == "KEEP" and ACTION_NAMES[-1] == "END"


def test_start_masks_loops_and_end(grid):
    assert mask(grid, EditState()) == {"KEEP", "KEEP_BAR", "KEEP_PHRASE", "CUT", "CUT_TO_BAR", "CUT_TO_PHRASE"}


def test_keep_cut_and_jumps(grid):
    st = EditState()
    assert apply_action(grid, st, Action.KEEP) == [0] and st.cursor == 1
    assert apply_action(grid, st, Action.KEEP_BAR) == [1, 2, 3] and st.cursor == 4
    apply_action(grid, st, Action.CUT_TO_PHRASE)
    assert st.cursor == 8 and st.order == [0, 1, 2, 3]
    apply_action(grid, st, Action.CUT)
    assert st.cursor == 9
    apply_action(grid, st, Action.CUT_TO_BAR)
    assert st.cursor == 12
    assert apply_action(grid, st, Action.KEEP_PHRASE) == [12, 13, 14, 15] and st.done(grid)
    assert st.out_seconds == pytest.approx(4.0)


def test_loops_need_material_and_are_limited(grid):
    st = EditState()
    apply_action(grid, st, Action.KEEP)
    assert "LOOP_BEAT" in mask(grid, st) and "LOOP_BAR" not in mask(grid, st)  # no whole bar yet
    apply_action(grid, st, Action.KEEP_BAR)
    assert "LOOP_BAR" in mask(grid, st)
    assert apply_action(grid, st, Action.LOOP_BAR) == [0, 1, 2, 3] and st.cursor == 4
    apply_action(grid, st, Action.LOOP_BEAT)
    assert st.order[-1] == 3 and st.consecutive_loops == 2
    assert not {"LOOP_BEAT", "LOOP_BAR"} & mask(grid, st)  # two in a row is the limit


def test_end_needs_minimum_length_and_is_forced_at_maximum(grid):
    st = EditState()
    apply_action(grid, st, Action.KEEP_BAR)  # 2.0 s
    assert "END" in mask(grid, st) and "END" not in mask(grid, st, min_end_seconds=2.5)
    assert mask(grid, st, max_seconds=2.0) == {"END"}
    apply_action(grid, st, Action.END)
    assert st.ended and st.done(grid)


def test_no_cut_past_the_end(grid):
    st = EditState(cursor=13)
    m = mask(grid, st)
    assert "CUT_TO_BAR" not in m and "CUT_TO_PHRASE" not in m and "CUT" in m
    st = EditState(cursor=15)
    assert "CUT" not in mask(grid, st)


def test_actions_for_order_replays_the_order(grid):
    order = [0, 1, 2, 3, 8, 9, 10, 11, 11, 14, 15]
    acts = actions_for_order(grid, order, ended=False)
    st = EditState()
    for a in acts:
        apply_action(grid, st, a)
    assert st.order == order
    assert Action.CUT_TO_PHRASE in acts and Action.LOOP_BEAT in acts


def test_actions_for_order_from_a_state_reads_it_and_goes_on_from_it(grid):
    st = EditState()
    apply_action(grid, st, Action.KEEP_BAR)
    before = (st.cursor, list(st.order), list(st.actions), st.out_seconds, st.run_length)
    rest = [4, 5, 6, 7, 7, 9, 10, 11]  # a run, a repeat, a gap of one beat, a run to a bar line
    acts = actions_for_order(grid, rest, ended=True, state=st)
    assert (st.cursor, st.order, st.actions, st.out_seconds, st.run_length) == before  # read, not changed
    for a in acts:
        apply_action(grid, st, a)
    assert st.order == [0, 1, 2, 3] + rest and st.ended and acts[-1] == Action.END
    assert st.run_length == 3 and st.out_seconds == pytest.approx(0.5 * 12)  # 9, 10, 11 after the cut
    with pytest.raises(Exception, match="jumps back from 11 to 2"):
        actions_for_order(grid, [2], ended=False, state=st)
