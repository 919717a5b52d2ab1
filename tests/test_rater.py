"""The panel of tastes: each aspect on hand-made edits, tastes that differ in kind, noisy judgements."""

import numpy as np
import pytest

from editor_rl.editors.baselines import baseline_edit
from editor_rl.config import RaterConfig
from editor_rl.edit.plan import plan_from_order
from editor_rl.errors import ConfigError
from editor_rl.raters.rater import SimulatedRater, panel
from editor_rl.raters.tastes import PANEL, SongView, aspects, song_view
from editor_rl.rewards import dense

from conftest import make_analysis


@pytest.fixture(scope="module")
def toy():
    """24 bars at 120 BPM (48 s): intro 0–15, verse 16–31, chorus 32–63 (loud), outro 64–95."""
    feats = np.random.default_rng(0).normal(size=(96, 125)).astype(np.float32)
    from editor_rl.raters.tastes import _RMS

    feats[:, _RMS] = -20.0
    feats[32:64, _RMS] = -8.0
    a = make_analysis(n_bars=24, features=feats)
    labels = np.repeat([0, 1, 2, 3], [16, 16, 32, 32])
    return a, SongView(dense.song_tables(a), labels == 2, labels)


def _aspects(toy, order, target, fade=True):
    a, view = toy
    return aspects(view, a, plan_from_order(a, order, [], fade_out=fade), target_seconds=target)


def test_aspects_of_hand_made_edits(toy):
    first_half = _aspects(toy, range(48), 24.0)  # the first 24 s, one stretch
    assert first_half["tight"] == first_half["exact"] == first_half["few_cuts"] == first_half["on_bar"] == first_half["no_repeats"] == 1.0
    assert first_half["opening"] == 1.0 and first_half["ending"] == 0.6 and first_half["hook"] == 0.5 and first_half["sections"] == 0.75
    chorus = _aspects(toy, list(range(16)) + list(range(32, 64)), 24.0)  # intro, then the whole chorus: one cut, on bar lines
    assert chorus["hook"] == 1.0 and chorus["on_bar"] == 1.0 and chorus["few_cuts"] == pytest.approx(np.exp(-0.5)) and chorus["sections"] == 0.5
    off_bar = _aspects(toy, list(range(14)) + list(range(34, 64)), 22.0)  # a cut inside a bar
    assert off_bar["on_bar"] == pytest.approx(np.exp(-1))
    looped = _aspects(toy, list(range(16)) + list(range(8, 16)) + list(range(16, 40)), 24.0)  # a bar pair played twice
    assert looped["no_repeats"] == pytest.approx(1 - 2 * 8 / 48 - 0.2)
    whole_end = _aspects(toy, list(range(16)) + list(range(64, 96)), 24.0, fade=False)
    assert whole_end["ending"] == 1.0
    short = _aspects(toy, range(46), 24.0)  # 23 s of 24: 4 % off
    assert short["tight"] == pytest.approx(1 - 1 / 24 / 0.3) and short["exact"] == pytest.approx(np.exp(-((1 / 24 / 0.03) ** 2)))
    no_target = _aspects(toy, range(58), None)  # 29 s of a 48 s song, no length asked for: against the preferred 60 %
    assert no_target["tight"] == pytest.approx(1 - abs(29 - 28.8) / 28.8 / 0.3)


def test_tastes_differ_in_kind(toy):
    a, view = toy
    plans = {"first_half": range(48), "chorus": list(range(16)) + list(range(32, 64)), "off_bar": list(range(14)) + list(range(34, 64)),
             "to_the_end": list(range(16)) + list(range(64, 96))}
    utility = {}
    for name in PANEL:
        r = SimulatedRater(name)
        r._views[f"{a.content_hash}:{a.path}"] = view
        utility[name] = {k: r.utility(a, plan_from_order(a, list(o), [], fade_out=k != "to_the_end"), target_seconds=24.0) for k, o in plans.items()}
    assert utility["keeps_hook"]["chorus"] > utility["keeps_hook"]["first_half"]
    assert utility["few_cuts"]["first_half"] > utility["few_cuts"]["chorus"]
    assert utility["bar_lines"]["chorus"] > utility["bar_lines"]["off_bar"]
    assert utility["keeps_ending"]["to_the_end"] > max(utility["keeps_ending"][k] for k in ("first_half", "chorus"))
    orders = {name: sorted(u, key=u.get) for name, u in utility.items()}
    assert len({tuple(o) for o in orders.values()}) >= 4  # the panel does not agree on one ranking


def test_tastes_rank_search_over_random(analyses, config):
    for name in ("balanced", "bar_lines", "few_cuts"):
        r = SimulatedRater(name)
        wins = []
        for a in analyses:
            t = 0.5 * a.duration_s
            wins.append(r.utility(a, baseline_edit("search", a, target_seconds=t, config=config), target_seconds=t)
                        > r.utility(a, baseline_edit("random", a, target_seconds=t, config=config, seed=4), target_seconds=t))
        assert np.mean(wins) >= 0.75, name


def test_view_uses_truth_sections_else_the_analysed_structure(analyses, config):
    a = analyses[0]
    view = song_view(a)
    assert 0 < view.chorus.mean() < 0.8 and len(np.unique(view.labels)) >= 3  # synthetic: from the truth file
    from dataclasses import replace

    moved = replace(a, path="/nowhere/song.wav")
    assert np.array_equal(song_view(moved).chorus, a.structure.hook)  # no truth file: the hook found by repetition


def test_ties_strengths_and_noise():
    r = SimulatedRater("balanced", seed=1)
    assert r.judge_utilities(0.50, 0.51).preference == "tie"
    strong = [r.judge_utilities(0.9, 0.5) for _ in range(50)]
    assert all(j.preference == "a" and j.strength == 3 for j in strong)
    weak = [r.judge_utilities(0.53, 0.5).preference for _ in range(400)]
    assert 0.6 < np.mean([w == "a" for w in weak]) < 0.95  # noisy near the tie margin
    assert SimulatedRater("balanced", seed=2).rater_id == "balanced-2" != SimulatedRater("few_cuts", seed=2).rater_id
    assert r.expected(0.50, 0.51) == 0.5 and r.expected(0.9, 0.5) > 0.999
    assert abs(r.expected(0.53, 0.5) - np.mean([w == "a" for w in weak])) < 0.07  # the draw's mean, without the draw


def test_unknown_tastes_and_a_judge_that_trains_are_config_errors():
    with pytest.raises(ConfigError, match="'grumpy'"):
        panel(["balanced", "grumpy"], seed=0)
    with pytest.raises(ConfigError, match="keeps_hook is in rater.pretrain_tastes"):
        RaterConfig(judge_tastes=("keeps_hook",))
