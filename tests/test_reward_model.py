import numpy as np
import pytest
import torch

from editor_rl.config import RewardModelConfig
from editor_rl.edit.actions import Action
from editor_rl.edit.baselines import baseline_edit
from editor_rl.errors import EditorRLError
from editor_rl.rewards.model import PAD_TOKEN, RewardModel, chunk, edit_sequence, load_scorer


def test_seed_sized_model_and_bounded_scores():
    from pathlib import Path

    from editor_rl.config import load_config

    seed_size = load_config(Path(__file__).parents[1] / "configs" / "default.yaml").reward_model
    m = RewardModel(seed_size)
    n = sum(p.numel() for p in m.parameters())
    assert 2.0e6 < n < 3.5e6  # the seeds' ~2.6 M (3 layers, 4 heads, d = 256)
    f = torch.randn(2, 10, 127) * 100
    out = m(f, torch.zeros(2, 10, dtype=torch.long), torch.ones(2, 3), torch.zeros(2, 10, dtype=torch.bool))
    assert out.shape == (2, 5) and out.abs().max() <= 10
    small = RewardModel(RewardModelConfig())  # the quickstart's embedded default
    assert sum(p.numel() for p in small.parameters()) < n / 10


def test_sequence_tokens_follow_the_actions(analyses, config):
    a = analyses[0]
    plan = baseline_edit("search", a, target_seconds=0.5 * a.duration_s, config=config)
    seq = edit_sequence(a, plan, target_seconds=0.5 * a.duration_s)
    assert seq.features.shape == (len(plan.beat_order), 127) and len(seq.tokens) == len(plan.beat_order)
    seam = next(k for k in range(1, len(plan.beat_order)) if plan.beat_order[k] != plan.beat_order[k - 1] + 1)
    assert seq.tokens[seam] in (Action.CUT_TO_BAR, Action.CUT_TO_PHRASE, Action.CUT)
    assert seq.features[seam, 125] == 0 and seq.features[seam - 1, 125] == 1  # continuity flag
    assert seq.context[1] == pytest.approx(plan.duration_s / (0.5 * a.duration_s), rel=1e-5)
    assert PAD_TOKEN not in seq.tokens


def test_identical_edits_score_equally(tiny_scorer, analyses, config):
    a = analyses[1]
    p = baseline_edit("search", a, target_seconds=0.5 * a.duration_s, config=config)
    seqs = [edit_sequence(a, p, target_seconds=0.5 * a.duration_s) for _ in range(3)]
    other = edit_sequence(a, baseline_edit("random", a, target_seconds=0.5 * a.duration_s, config=config, seed=2), target_seconds=0.5 * a.duration_s)
    r, s = tiny_scorer.score(seqs + [other])
    assert r[0] == r[1] == r[2] and s[0] == s[1]
    assert r[3] != r[0] and (s >= 0).all()


def test_checkpoint_round_trip_without_training_code(tiny_scorer, tiny_checkpoint, analyses, config):
    a = analyses[2]
    seqs = [edit_sequence(a, baseline_edit(n, a, target_seconds=0.6 * a.duration_s, config=config, seed=1)) for n in ("search", "random")]
    loaded = load_scorer(tiny_checkpoint)
    assert np.allclose(loaded.score(seqs)[0], tiny_scorer.score(seqs)[0])
    assert loaded.metrics["val_accuracy"] == tiny_scorer.metrics["val_accuracy"]
    assert np.allclose(loaded.normalizer.mean, tiny_scorer.normalizer.mean)
    assert load_scorer(tiny_checkpoint.read_bytes()).tie_threshold == pytest.approx(tiny_scorer.tie_threshold)


def test_bad_checkpoints(tmp_path):
    with pytest.raises(EditorRLError, match="does not exist"):
        load_scorer(tmp_path / "none.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(EditorRLError, match="junk.pt: not a readable reward checkpoint"):
        load_scorer(tmp_path / "junk.pt")


def test_long_edits_are_scored_in_chunks(tiny_scorer, analyses):
    a = analyses[0]
    from editor_rl.edit.baselines import plan_from_order

    order = list(range(a.n_beats)) * 8  # a very long loop-heavy edit
    seq = edit_sequence(a, plan_from_order(a, order, [], fade_out=False))
    pieces = chunk(seq, tiny_scorer.model.config.max_beats)
    assert len(order) > 500 and len(pieces) == -(-len(order) // 500)
    r, s = tiny_scorer.score([seq])
    assert np.isfinite(r).all() and abs(r[0]) <= 10
