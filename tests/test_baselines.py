"""Baselines: every one keeps the length promise; the search cuts on bars and beats random on every dense quality component."""

import numpy as np
import pytest

from editor_rl.editors.baselines import BASELINES, baseline_edit
from editor_rl.errors import EditorRLError, InvalidEditError
from editor_rl.rewards import dense


@pytest.fixture(scope="module")
def runs(analyses, config):
    rng = np.random.default_rng(5)
    out = []
    for a in analyses:
        target = float(rng.uniform(0.4, 0.8)) * a.duration_s
        t = dense.song_tables(a)
        row = {"analysis": a, "target": target}
        for name in BASELINES:
            plan = baseline_edit(name, a, target_seconds=target, config=config, seed=3)
            row[name] = (plan, dense.components(t, list(plan.beat_order), out_seconds=plan.duration_s, target_seconds=target))
        out.append(row)
    return out


def test_every_baseline_keeps_the_length_promise(runs):
    for r in runs:
        beat = float(np.median(np.diff(r["analysis"].beats_s)))
        for name in BASELINES:
            plan, _ = r[name]
            err = abs(plan.duration_s - r["target"])
            assert err <= 0.05 * r["target"] or err <= beat, (name, r["analysis"].song_id, plan.duration_s, r["target"])
        assert r["search"][0].repair == "" and r["plain_cut"][0].repair == ""  # these two hit the target by themselves


def test_search_cuts_on_bar_boundaries(runs):
    on_bar = []
    for r in runs:
        bar_pos = r["analysis"].bar_pos
        for i, j in dense.seams_of(r["search"][0].beat_order):
            on_bar.append(bar_pos[j] == 0 and (i + 1 == len(bar_pos) or bar_pos[i + 1] == 0))
    assert on_bar and np.mean(on_bar) >= 0.9


def test_search_beats_random_on_every_quality_component(runs):
    search = np.array([r["search"][1] for r in runs])
    rand = np.array([r["random"][1] for r in runs])
    for k, name in enumerate(dense.COMPONENTS[:4]):  # duration: both keep the promise
        # tempo: with the true beats of a steady song every seam keeps the tempo, random ones too
        assert search[:, k].mean() > rand[:, k].mean() or search[:, k].mean() == rand[:, k].mean() == 1.0, name
    assert sum(search[:, k].mean() > rand[:, k].mean() for k in range(4)) >= 3


def test_raw_random_edits_miss_and_the_repair_is_recorded(analyses, config):
    from editor_rl.editors.baselines import random_edit

    raw, kept = [], []
    for s, a in enumerate(analyses):
        target = 0.5 * a.duration_s
        raw.append(abs(random_edit(a, target_seconds=target, config=config, seed=s, keep_promise=False).duration_s - target) / target)
        kept.append(random_edit(a, target_seconds=target, config=config, seed=s))
    assert max(raw) > 0.1  # the random policy by itself misses the target
    assert any(p.repair.startswith("planner completed") for p in kept) and all(abs(p.duration_s - 0.5 * a.duration_s) <= 0.05 * 0.5 * a.duration_s + 0.8 for p, a in zip(kept, analyses))


def test_plans_replay_through_the_action_set(runs):
    from editor_rl.edit.actions import Action, EditGrid, EditState, apply_action

    for r in runs:
        grid = EditGrid.of(r["analysis"])
        for name in BASELINES:
            plan = r[name][0]
            st = EditState()
            for a in plan.actions:
                apply_action(grid, st, Action[a])
            assert tuple(st.order) == plan.beat_order, name


def test_random_temperature_changes_behaviour(analyses, config):
    a = analyses[0]
    cold = [baseline_edit("random", a, target_seconds=0.5 * a.duration_s, config=config, seed=s, temperature=0.05) for s in range(3)]
    hot = [baseline_edit("random", a, target_seconds=0.5 * a.duration_s, config=config, seed=s, temperature=5.0) for s in range(3)]
    assert np.mean([p.n_seams for p in cold]) < np.mean([p.n_seams for p in hot])


def test_bad_targets_and_names(analyses, config):
    a = analyses[0]
    with pytest.raises(InvalidEditError, match="longer than"):
        baseline_edit("search", a, target_seconds=a.duration_s + 1, config=config)
    with pytest.raises(InvalidEditError, match="positive"):
        baseline_edit("search", a, target_seconds=-3, config=config)
    with pytest.raises(EditorRLError, match="unknown baseline 'nope'"):
        baseline_edit("nope", a, target_seconds=10, config=config)
