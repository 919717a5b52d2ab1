"""Training: learns the rater's taste on held-out songs, split by song, fine-tuning starts where it left off."""

import numpy as np

from conftest import TINY_MODEL
from editor_rl.config import RewardModelConfig, RewardTrainConfig
from editor_rl.preferences.train import split_by_song, train_reward_model


def test_learns_above_chance_on_held_out_songs(tiny_scorer):
    m = tiny_scorer.metrics
    assert m["val_accuracy"] >= 0.7 and m["val_pairs"] > 0
    assert not set(m["train_songs"]) & set(m["val_songs"])
    assert m["history"] and m["best_epoch"] >= 1


def test_split_is_by_song_and_deterministic():
    songs = [f"s{i}" for i in range(10)] * 3
    tr, va = split_by_song(songs, val_fraction=0.2, seed=1)
    assert len(va) == 2 and not tr & va and tr | va == set(songs)
    assert split_by_song(songs, val_fraction=0.2, seed=1) == (tr, va)


def test_fine_tuning_starts_from_the_checkpoints_accuracy(tiny_scorer, synthetic_pairs, analyses):
    by_id = {a.song_id: a for a in analyses}
    tuned = train_reward_model(synthetic_pairs, by_id, train_config=RewardTrainConfig(max_epochs=1, patience=1, lr=2e-3), pretrained=tiny_scorer, log=lambda m: None)
    assert tuned.metrics["fine_tuned"]
    assert abs(tuned.metrics["initial_val_accuracy"] - tiny_scorer.metrics["val_accuracy"]) < 1e-6
    fresh = train_reward_model(synthetic_pairs, by_id, model_config=RewardModelConfig(**TINY_MODEL), train_config=RewardTrainConfig(max_epochs=1, patience=1), log=lambda m: None)
    assert fresh.metrics["initial_val_accuracy"] != tiny_scorer.metrics["val_accuracy"] or np.isnan(fresh.metrics["initial_val_accuracy"])
