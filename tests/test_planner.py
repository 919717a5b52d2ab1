"""The search planner and the env's planner hint."""

from dataclasses import replace

import numpy as np

from editor_rl.config import Config, EnvConfig
from editor_rl.edit.actions import N_ACTIONS, Action
from editor_rl.editors.baselines import search_edit
from editor_rl.policy.env import MusicEditEnv, rollout
from editor_rl.search.planner import PlanStart


def _hint(obs: dict) -> int:
    h = obs["observations"][-N_ACTIONS:]
    return int(np.argmax(h)) if h.any() else -1


def test_following_the_hint_reproduces_the_search_edit(analyses):
    env = MusicEditEnv(analyses)
    for a in analyses:
        for ratio in (0.4, 0.6, 0.8):
            target = ratio * a.duration_s
            info, _ = rollout(env, lambda obs, rng: _hint(obs), options={"song_id": a.song_id, "target_seconds": target})
            assert info["plan"].beat_order == search_edit(a, target_seconds=target).beat_order


def test_hint_replans_after_the_policy_leaves_the_plan(analyses):
    env = MusicEditEnv(analyses)
    errors, left = [], 0
    for k, a in enumerate(analyses):
        target = 0.5 * a.duration_s
        obs, _ = env.reset(options={"song_id": a.song_id, "target_seconds": target})
        rng = np.random.default_rng(k)
        done, step = False, 0
        while not done:
            h = _hint(obs)
            assert h >= 0 and obs["action_mask"][h]  # always an allowed hint, also after leaving the plan
            a_ = h
            if step in (3, 10) and obs["action_mask"][Action.KEEP_PHRASE] and h != Action.KEEP_PHRASE:
                a_, left = int(Action.KEEP_PHRASE), left + 1  # leave the plan: keep a phrase it would not
            elif rng.random() < 0.05:
                a_ = int(rng.choice(np.flatnonzero(obs["action_mask"])))
                left += a_ != h
            obs, _, done, trunc, info = env.step(a_)
            done, step = done or trunc, step + 1
        errors.append(abs(info["plan"].duration_s - target) / target)
    assert left >= len(analyses)
    assert np.median(errors) < 0.05  # the re-planned hints still reach the target


def test_hint_off_means_zeros_and_the_same_dynamics(analyses):
    on, off = MusicEditEnv(analyses[:1]), MusicEditEnv(analyses[:1], config=EnvConfig(planner_hint=False))
    o1, _ = on.reset(seed=3)
    o2, _ = off.reset(seed=3)
    assert not o2["observations"][-N_ACTIONS:].any() and o1["observations"][-N_ACTIONS:].sum() == 1
    np.testing.assert_array_equal(o1["observations"][:-N_ACTIONS], o2["observations"][:-N_ACTIONS])


def test_section_bonus_changes_what_the_search_keeps(analyses):
    a = analyses[0]
    target = 0.5 * a.duration_s
    plain = search_edit(a, target_seconds=target)
    late = np.where(np.arange(a.n_beats) > a.n_beats // 2, 0.2, 0.0)
    favoured = search_edit(a, target_seconds=target, config=replace(Config()), bonus=late)
    assert abs(favoured.duration_s - target) / target < 0.06
    assert np.mean(np.array(favoured.beat_order) > a.n_beats // 2) > np.mean(np.array(plain.beat_order) > a.n_beats // 2)


def test_a_replan_read_from_the_cost_to_go_table_is_as_cheap_as_the_forward_programme(analyses):
    """From any partly made edit, the table's plan costs what the forward DP's does (or less: the
    two keep different paths' lengths where costs tie), and its length and beats are consistent."""
    env = MusicEditEnv(analyses, config=EnvConfig(planner_hint=False))
    rng = np.random.default_rng(0)
    same = compared = 0
    for k, a in enumerate(analyses):
        obs, _ = env.reset(options={"song_id": a.song_id, "target_seconds": 0.55 * a.duration_s})
        planner, n, done = env._song.planner, a.n_beats, False
        for ratio in (0.3, 0.5, 0.8):  # and from the song's start (the search's edit)
            table, forward = planner.path(target_seconds=ratio * a.duration_s), planner.path(target_seconds=ratio * a.duration_s, bonus=np.zeros(n))
            assert np.isfinite(table.cost) and table.cost <= forward.cost + 1e-9
        while not done:
            st = env.state
            if st.actions:
                start = PlanStart(st.order[-1] if st.order else -1, st.cursor, st.out_seconds)
                table = planner.path(target_seconds=env.target, start=start)
                forward = planner.path(target_seconds=env.target, start=start, bonus=np.zeros(n))  # a bonus takes the forward DP
                assert table.cost <= forward.cost + 1e-9
                assert all(b >= st.cursor for b in table.order) and all(y > x for x, y in zip(table.order, table.order[1:]))
                same += table.order == forward.order
                compared += 1
            obs, _, done, trunc, _ = env.step(int(rng.choice(np.flatnonzero(obs["action_mask"]))))
            done = done or trunc
    assert compared > 20 and same / compared > 0.9


def test_batched_section_searches_are_the_one_at_a_time_ones(analyses):
    from editor_rl.editors.baselines import section_search_edit, section_search_edits

    for a in analyses[:3]:
        target = 0.5 * a.duration_s
        batch = section_search_edits(a, target_seconds=target, rng=np.random.default_rng(5), count=4)
        rng = np.random.default_rng(5)
        single = [section_search_edit(a, target_seconds=target, rng=rng) for _ in range(4)]
        assert [p.beat_order for p in batch] == [p.beat_order for p in single]
        assert len({p.beat_order for p in batch}) > 1  # the bonuses differ, and so do the edits
        assert section_search_edits(a, target_seconds=target, rng=rng, count=0) == []
        assert section_search_edits(a, target_seconds=target, rng=rng, count=0, table=True) == []


def test_a_bonus_table_plans_as_cheaply_as_the_forward_programme_and_is_kept(analyses):
    """A section bonus planned from its cost-to-go table costs what the forward DP's plan costs (or
    less), at several targets, and the second target reuses the table the first one made."""
    from editor_rl.search.planner import planner_for

    rng = np.random.default_rng(3)
    for a in analyses[:4]:
        planner = planner_for(a)
        phrase = np.cumsum(a.phrase_pos == 0)
        bonus = rng.choice([0.0, 0.0, 0.03, 0.08], size=int(phrase.max()) + 1)[phrase]
        tables = []
        for ratio in (0.35, 0.6, 0.8):
            target = ratio * a.duration_s
            table, forward = planner.path(target_seconds=target, bonus=bonus, table=True), planner.path(target_seconds=target, bonus=bonus)
            assert np.isfinite(table.cost) and table.cost <= forward.cost + 1e-9
            assert abs(sum(a.beat_ends_s[b] - a.beats_s[b] for b in table.order) - target) / target < 0.06
            tables.append(planner.cost_to_go(keep_end=planner.search.keep_end, bonus=bonus))
        assert tables[0] is tables[1] is tables[2]
