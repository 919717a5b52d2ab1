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
        assert sum(p.kind == "window" for p in props) <= cfg.pick.window_count(duration_s=a.duration_s, target_seconds=t)
        assert sum(p.kind == "one_cut" for p in props) <= cfg.pick.one_cuts
        assert len({p.plan.beat_order for p in props}) == len(props)  # no duplicates
        beat = float(np.median(a.beat_ends_s - a.beats_s))
        assert all(keeps_promise(p.plan.duration_s, t, beat) for p in props)
        for p in props:
            if p.kind == "window":
                o = np.asarray(p.plan.beat_order)
                assert np.all(np.diff(o) == 1)  # one stretch, no cut inside


def test_a_short_target_gets_windows_at_most_the_spacing_apart(module, analyses):
    """Every stretch of a song as long as the target lies near a candidate window, however long the song."""
    cfg = Config()
    a = analyses[0]
    t = 0.1 * a.duration_s
    assert cfg.pick.window_count(duration_s=a.duration_s, target_seconds=t) == 20 > cfg.pick.windows
    (props,) = candidate_edits(module, [(a, t, 5)], config=cfg)
    starts = np.sort([a.beats_s[p.plan.beat_order[0]] for p in props if p.kind == "window"])
    bar = 4 * float(np.median(a.beat_ends_s - a.beats_s))
    gap = cfg.pick.window_spacing * t + bar
    assert len(starts) >= 15 and starts[0] <= gap
    assert np.diff(starts).max() <= gap, np.diff(starts)
    assert starts[-1] + t >= a.duration_s - gap
    few = replace(cfg, pick=replace(cfg.pick, window_spacing=0.0))
    (props,) = candidate_edits(module, [(a, t, 5)], config=few)
    assert sum(p.kind == "window" for p in props) == cfg.pick.windows


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
    narrow = replace(Config(), pick=replace(Config().pick, windows=0, window_spacing=0.0, plain_cut=False, one_cuts=0))
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


def test_inference_reads_the_actor_alone_and_gives_ppo_s_own_logits(module, analyses):
    from ray.rllib.algorithms.ppo.torch.default_ppo_torch_rl_module import DefaultPPOTorchRLModule

    env = MusicEditEnv(analyses[:1], config=Config().env)
    obs = [env.reset(seed=s)[0] for s in range(5)]
    batch = {"obs": {k: torch.from_numpy(np.stack([o[k] for o in obs])) for k in ("observations", "action_mask")}}
    ours = module._forward_inference(batch)["action_dist_inputs"]
    _, plain = module._split(batch)
    theirs = module._mask(DefaultPPOTorchRLModule._forward_inference(module, plain), batch["obs"]["action_mask"])["action_dist_inputs"]  # actor and critic
    assert torch.equal(ours, theirs)


def test_what_an_analysis_derives_is_made_once_and_never_pickled(module, analyses):
    import pickle

    from editor_rl.rewards.sequence import edit_sequence, song_inputs

    a = copy.copy(analyses[0])
    a.__dict__.pop("derived", None)
    jobs = [(a, 0.5 * a.duration_s, 3)]
    plans = [p.plan for p in candidate_edits(module, jobs, config=Config())[0]]
    made = song_inputs(a)
    assert song_inputs(a) is made and {"edit_sequence", "planner_key"} <= set(a.derived)
    b = pickle.loads(pickle.dumps(a))
    assert b.derived == {} and song_inputs(b) is not made
    for p in plans:  # the same model input from kept tables as from fresh ones
        x, y = edit_sequence(a, p, target_seconds=jobs[0][1]), edit_sequence(b, p, target_seconds=jobs[0][1])
        assert all(np.array_equal(u, v) for u, v in zip(x, y))
