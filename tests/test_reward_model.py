"""The reward model: bar-sized tokens, independent ensemble members, the explicit descriptor path, checkpoints."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from editor_rl.editors.baselines import baseline_edit
from editor_rl.config import RewardModelConfig
from editor_rl.edit.actions import Action
from editor_rl.edit.plan import plan_from_order
from editor_rl.errors import EditorRLError
from editor_rl.rewards.descriptors import DESCRIPTOR_NAMES
from editor_rl.rewards.model import RewardModel, collate, load_scorer, patches
from editor_rl.rewards.sequence import INPUT_DIM, N_TOKENS, PAD_TOKEN, edit_sequence


def test_seed_sized_members_and_bounded_scores(tiny_scorer, analyses, config):
    from pathlib import Path

    from editor_rl.config import load_config

    seed_size = load_config(Path(__file__).parents[1] / "configs" / "default.yaml").reward_model
    m = RewardModel(seed_size)
    per_member = sum(p.numel() for p in m.parameters()) / seed_size.ensemble
    assert 2.0e6 < per_member < 3.5e6  # each member the seeds' size (3 layers, 4 heads, d = 256)
    a = analyses[0]
    seq = edit_sequence(a, baseline_edit("search", a, target_seconds=0.5 * a.duration_s, config=config), target_seconds=0.5 * a.duration_s)
    scorer = tiny_scorer.__class__(m, tiny_scorer.normalizer)
    batch = scorer.batch([seq._replace(features=seq.features * 100), seq])
    out = m(batch)
    assert out.shape == (2, seed_size.ensemble) and out.abs().max() <= 10
    assert sum(p.numel() for p in RewardModel(RewardModelConfig()).parameters()) < per_member  # the quickstart's whole ensemble


def test_sequence_carries_tokens_flags_and_descriptors(analyses, config):
    a = analyses[0]
    plan = baseline_edit("search", a, target_seconds=0.5 * a.duration_s, config=config)
    seq = edit_sequence(a, plan, target_seconds=0.5 * a.duration_s)
    order = list(plan.beat_order)
    assert seq.features.shape == (len(order), INPUT_DIM) == (len(order), 133) and len(seq.tokens) == len(order)
    seam = next(k for k in range(1, len(plan.beat_order)) if plan.beat_order[k] != plan.beat_order[k - 1] + 1)
    assert seq.tokens[seam] in (Action.CUT_TO_BAR, Action.CUT_TO_PHRASE, Action.CUT)
    assert seq.features[seam, 125] == 0 and seq.features[seam - 1, 125] == 1  # continuity flag
    st = a.structure
    assert np.array_equal(seq.features[:, 127], st.hook[order]) and not seq.features[:, 128].any()  # hook, no replays
    assert np.array_equal(seq.features[:, 129], np.isin(order, st.starts))  # first beats of sections
    counts = np.bincount(st.label[st.starts])
    assert np.array_equal(seq.features[:, 130], counts[st.label[order]] >= 2)  # its section's class recurs
    assert seq.features[-1, 131] == 1 and plan.beat_order[-1] == a.n_beats - 1  # the search keeps the song's final bar
    assert seq.features[0, 132] == 0 and seq.features[-1, 132] == 1  # from the first section to the last
    looped = edit_sequence(a, plan_from_order(a, list(range(8)) + list(range(4, 8)), [], fade_out=True))
    assert looped.features[:8, 128].sum() == 0 and looped.features[8:, 128].all()  # the replayed bar
    d = dict(zip(DESCRIPTOR_NAMES, seq.descriptors))
    assert d["seams"] == plan.n_seams and d["abs_len_err"] == pytest.approx(abs(plan.duration_s / (0.5 * a.duration_s) - 1), abs=1e-5)
    assert d["ends_at_end"] == (plan.beat_order[-1] == a.n_beats - 1) and d["starts_at_start"] == 1.0
    assert seq.context[1] == pytest.approx(plan.duration_s / (0.5 * a.duration_s), rel=1e-5)
    assert PAD_TOKEN not in seq.tokens


def test_tokens_are_bars_of_beats_concatenated(tiny_scorer, analyses):
    a = analyses[0]
    seq = edit_sequence(a, plan_from_order(a, list(range(10)), [], fade_out=True))
    p = patches(seq, tiny_scorer.normalizer, 4)
    assert p.shape == (3, 4 * (INPUT_DIM + N_TOKENS))
    beats = p.reshape(12, INPUT_DIM + N_TOKENS)
    assert np.allclose(beats[:10, :INPUT_DIM], tiny_scorer.normalizer.apply(seq.features))  # every beat kept, none averaged
    assert (beats[10:, INPUT_DIM + PAD_TOKEN] == 1).all() and not beats[10:, :INPUT_DIM].any()  # the last bar's missing beats are padding


def test_scorer_batch_is_the_collated_patches(tiny_scorer, analyses, config):
    norm = tiny_scorer.normalizer
    seqs = [edit_sequence(a, baseline_edit(kind, a, target_seconds=r * a.duration_s, config=config), target_seconds=r * a.duration_s)
            for a in analyses[:2] for kind, r in (("search", 0.5), ("plain_cut", 0.3), ("random", 0.7))]
    seqs.append(edit_sequence(analyses[0], plan_from_order(analyses[0], list(range(9)), [], fade_out=True)))  # a last token of one beat
    seqs[0] = seqs[0]._replace(features=seqs[0].features * 100)  # clipped at ±8
    fast = tiny_scorer.batch(seqs)
    ref = collate([patches(s, norm, 4) for s in seqs], [s.context for s in seqs], [norm.apply_descriptors(s.descriptors) for s in seqs])
    assert len({len(s.tokens) for s in seqs}) > 3
    for got, want in zip(fast, ref):
        assert got.shape == want.shape and got.dtype == want.dtype
        assert torch.allclose(got.float(), want.float(), atol=1e-6)


def test_members_are_independent_and_identical_edits_score_equally(tiny_scorer, analyses, config):
    a = analyses[1]
    p = baseline_edit("search", a, target_seconds=0.5 * a.duration_s, config=config)
    seqs = [edit_sequence(a, p, target_seconds=0.5 * a.duration_s) for _ in range(3)]
    other = edit_sequence(a, baseline_edit("random", a, target_seconds=0.5 * a.duration_s, config=config, seed=2), target_seconds=0.5 * a.duration_s)
    r, s = tiny_scorer.score(seqs + [other])
    assert r[0] == r[1] == r[2] and s[0] == s[1] and r[3] != r[0]
    members = tiny_scorer.score_members(seqs + [other])
    assert members.shape == (4, 3) and (s > 0).all() and len(set(np.round(members[3], 5))) == 3  # members disagree: they were trained apart
    w = tiny_scorer.model.w_in
    assert not torch.allclose(w[0], w[1])


def test_checkpoint_round_trip_without_training_code(tiny_scorer, tiny_checkpoint, analyses, config):
    a = analyses[2]
    seqs = [edit_sequence(a, baseline_edit(n, a, target_seconds=0.6 * a.duration_s, config=config, seed=1)) for n in ("search", "random")]
    loaded = load_scorer(tiny_checkpoint)
    assert np.allclose(loaded.score(seqs)[0], tiny_scorer.score(seqs)[0])
    assert loaded.metrics["val_accuracy"] == tiny_scorer.metrics["val_accuracy"]
    assert np.allclose(loaded.normalizer.desc_mean, tiny_scorer.normalizer.desc_mean)
    assert load_scorer(tiny_checkpoint.read_bytes()).tie_threshold == pytest.approx(tiny_scorer.tie_threshold)
    assert load_scorer(tiny_checkpoint, device="cpu", precision="bf16").precision == "fp32"  # bf16 autocast only on CUDA: CPU falls back


def test_bad_checkpoints(tmp_path):
    with pytest.raises(EditorRLError, match="does not exist"):
        load_scorer(tmp_path / "none.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(EditorRLError, match="junk.pt: not a readable reward checkpoint"):
        load_scorer(tmp_path / "junk.pt")
    torch.save({"format": "editor-rl-reward/1"}, tmp_path / "old.pt")
    with pytest.raises(EditorRLError, match="old.pt: .*found 'editor-rl-reward/1'"):
        load_scorer(tmp_path / "old.pt")


def test_long_edits_are_scored_in_chunks_in_training_and_scoring(tiny_scorer, analyses, config):
    from editor_rl.preferences.records import Candidate, PreferenceRecord
    from editor_rl.rewards.train import train_reward_model

    a = analyses[0]
    order = list(range(a.n_beats)) * 8  # a very long loop-heavy edit
    seq = edit_sequence(a, plan_from_order(a, order, [], fade_out=False))
    model, norm, p = tiny_scorer.model, tiny_scorer.normalizer, tiny_scorer.model.config.beats_per_token
    span = -(-model.config.max_beats // p)
    rows = patches(seq, norm, p)
    assert len(order) > model.config.max_beats and len(rows) > span
    with torch.no_grad():  # the trunk of the whole edit is the length-weighted mean of its chunks' trunks
        whole = model.trunk(collate([rows], [seq.context], [norm.apply_descriptors(seq.descriptors)]))
        parts = [model.trunk(collate([rows[i : i + span]], [seq.context], [norm.apply_descriptors(seq.descriptors)])) for i in range(0, len(rows), span)]
        sizes = torch.tensor([float(len(rows[i : i + span])) for i in range(0, len(rows), span)])
    torch.testing.assert_close(whole[:, 0], (torch.cat(parts, dim=1) * sizes).sum(dim=1) / sizes.sum())
    r, s = tiny_scorer.score([seq])
    assert np.isfinite(r).all() and abs(r[0]) <= 10
    short = baseline_edit("search", a, target_seconds=0.5 * a.duration_s, config=config)
    records = [PreferenceRecord(pair_id=f"p{k}", song_id=a.song_id, a=Candidate(f"long{k}", plan_from_order(a, order[k:], [], fade_out=False).to_edl()),
                                b=Candidate("short", short.to_edl()), preference="b", strength=2, rater_id="r", source="synthetic") for k in range(8)]
    trained = train_reward_model(records, {a.song_id: a}, model_config=model.config, train_config=replace(config.reward_train, max_epochs=2), log=lambda m: None)
    assert np.isfinite(trained.score([seq])[0]).all()  # training on edits longer than max_beats runs