"""Best of N draws from every kind of edit raters judge, and serves a window when the reward model prefers one."""

import copy
from dataclasses import replace

import numpy as np
import pytest
import torch

from editor_rl.editors.best_of import KINDS, best_picks, candidate_edits
from editor_rl.config import Config
from editor_rl.search.promise import keeps_promise
from editor_rl.policy.env import MusicEditEnv
from editor_rl.rewards.descriptors import DESCRIPTOR_NAMES
from editor_rl.rl.dpo import new_module


@pytest.fixture(scope="module")
def module(analyses):
    torch.manual_seed(0)
    return new_module(Config(), MusicEditEnv(analyses[:1], config=Config().env)).eval()


def _jobs(analyses):
    return [(a, r * a.duration_s, 11 + k) for k, a in enumerate(analyses[:2]) for r in (0.4, 0.6)]


def test_every_kind_is_a_candidate_and_keeps_the_promise(module, analyses):
    cfg = Config()
    for (a, t, _), props in zip(_jobs(analyses), candidate_edits(module, _jobs(analyses), config=cfg)):
        kinds = {p.kind for p in props}
        assert {"policy", "search", "plain_cut", "window", "one_cut"} <= kinds <= set(KINDS)
        assert sum(p.kind == "window" for p in props) <= cfg.pick.windows and sum(p.kind == "one_cut" for p in props) <= cfg.pick.one_cuts
        assert len({p.plan.beat_order for p in props}) == len(props)  # no duplicates
        beat = float(np.median(a.beat_ends_s - a.beats_s))
        assert all(keeps_promise(p.plan.duration_s, t, beat) for p in props)
        for p in props:
            if p.kind == "window":
                o = np.asarray(p.plan.beat_order)
                assert np.all(np.diff(o) == 1)  # one stretch, no cut inside


def _preferring(scorer, weights: dict[str, float]):
    """The real reward model with its learned path switched off and its explicit path set to ``weights``."""
    s = copy.deepcopy(scorer)
    m = s.model
    with torch.no_grad():
        m.alpha.zero_()
        m.w_desc.zero_()
        for name, w in weights.items():
            m.w_desc[:, DESCRIPTOR_NAMES.index(name)] = w
    return s


def test_a_window_is_served_when_the_reward_model_prefers_one(module, analyses, tiny_scorer):
    jobs = _jobs(analyses)
    likes_windows = _preferring(tiny_scorer, {"seams": -3.0, "starts_at_start": -3.0})
    picks = best_picks(module, jobs, scorer=likes_windows, config=Config())
    assert all(p.kind == "window" for p in picks), [p.kind for p in picks]
    likes_the_plain_cut = _preferring(tiny_scorer, {"seams": -3.0, "starts_at_start": 3.0, "fades_out": 3.0})
    picks = best_picks(module, jobs, scorer=likes_the_plain_cut, config=Config())
    assert all(p.kind == "plain_cut" for p in picks), [p.kind for p in picks]
    # without those kinds among the candidates it cannot be served
    narrow = replace(Config(), pick=replace(Config().pick, windows=0, plain_cut=False, one_cuts=0))
    assert all(p.kind not in ("window", "plain_cut", "one_cut") for p in best_picks(module, jobs, scorer=likes_windows, config=narrow))


def test_the_conservative_pick_prefers_what_the_members_agree_on(module, analyses, tiny_scorer):
    """Members that disagree about windows: with the uncertainty penalty the pick avoids them."""
    s = _preferring(tiny_scorer, {})
    with torch.no_grad():  # member 0 loves cuts off the start, the others mildly like the plain cut
        s.model.w_desc[0, DESCRIPTOR_NAMES.index("starts_at_start")] = -6.0
        s.model.w_desc[1:, DESCRIPTOR_NAMES.index("starts_at_start")] = 0.5
        s.model.w_desc[:, DESCRIPTOR_NAMES.index("fades_out")] = 0.2
    jobs = _jobs(analyses)[:2]
    bold = best_picks(module, jobs, scorer=s, config=replace(Config(), pick=replace(Config().pick, uncertainty_penalty=0.0)))
    careful = best_picks(module, jobs, scorer=s, config=Config())
    assert all(b.spread > c.spread for b, c in zip(bold, careful))
