import numpy as np

from editor_rl.config import RaterConfig
from editor_rl.edit.baselines import baseline_edit
from editor_rl.preferences.rater import SimulatedRater, chorus_mask


def test_tastes_rank_search_over_random(analyses, config):
    rater = SimulatedRater(config.rater)
    wins = []
    for a in analyses:
        t = 0.5 * a.duration_s
        wins.append(rater.utility(a, baseline_edit("search", a, target_seconds=t, config=config), target_seconds=t)
                    > rater.utility(a, baseline_edit("random", a, target_seconds=t, config=config, seed=4), target_seconds=t))
    assert np.mean(wins) >= 0.75


def test_chorus_taste_uses_truth_sections(analyses):
    a = analyses[0]
    mask = chorus_mask(a)
    assert 0 < mask.mean() < 0.8


def test_ties_strengths_and_noise():
    r = SimulatedRater(RaterConfig(noise=0.03, tie_margin=0.02, seed=1))
    assert r.judge_utilities(0.50, 0.51).preference == "tie"
    strong = [r.judge_utilities(0.9, 0.5) for _ in range(50)]
    assert all(j.preference == "a" and j.strength == 3 for j in strong)
    weak = [r.judge_utilities(0.53, 0.5).preference for _ in range(400)]
    assert 0.6 < np.mean([w == "a" for w in weak]) < 0.95  # noisy near the tie margin
