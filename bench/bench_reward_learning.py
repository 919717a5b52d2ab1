"""Reward-model learning curve: validation accuracy against the number of synthetic pairs.

Run:  .venv/bin/python bench/bench_reward_learning.py [--sizes 50,100,200,500,5000] [--d-model 128 --layers 2]
      (the seeds' model: --sizes 5000 --d-model 256 --layers 3 --d-ff 1024)

What to expect: synthetic songs are split into training songs and held-out test songs; 5 000
pairs on the training songs and 1 000 on the test songs are labelled by one simulated rater (the
config's ``rater.feedback_taste``). For each size N the model trains on the first N training pairs
with ``reward_train``'s schedule (to convergence; its early-stopping split is by song too; below
``reward_train.transformer_min_pairs`` only the explicit descriptor path is fit) and is scored on
the fixed test pairs: accuracy on non-tie pairs, log loss, ECE. The
"ceiling" row is how often the rater's own noisy labels agree with its noise-free utility — no
model can beat it on average. A PNG of the curve goes to bench/results/reward_learning_d<D>_l<L>.png.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from editor_rl.audio.analysis import analyze_audio
from editor_rl.audio.io import Audio
from editor_rl.audio.synth import synthesize_song
from editor_rl.config import Config, RewardModelConfig, SynthConfig
from editor_rl.rewards.bradley_terry import BradleyTerryLoss
from editor_rl.raters.rater import SimulatedRater
from editor_rl.raters.synthetic import make_pairs
from editor_rl.rewards.train import encode, evaluate, prepare, train_reward_model

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="50,100,200,500,5000")
    ap.add_argument("--songs", type=int, default=48)
    ap.add_argument("--test-songs", type=int, default=12)
    ap.add_argument("--d-model", type=int, default=128)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--d-ff", type=int, default=0, help="feed-forward width (default 2 × d-model)")
    ap.add_argument("--max-epochs", type=int, default=0, help="cap on epochs (default: reward_train's schedule, to convergence)")
    args = ap.parse_args()
    cfg = Config()
    sc = SynthConfig(min_seconds=30, max_seconds=60)
    songs = []
    for i in range(args.songs + args.test_songs):
        samples, _ = synthesize_song(seed=880_000 + i, config=sc)
        songs.append(analyze_audio(Audio(samples, 44100, f"bench{i}.wav"), config=cfg, song_id=f"bench{i}", content_hash=f"h{i}"))
    train_songs, test_songs = songs[: args.songs], songs[args.songs :]
    rater = SimulatedRater(cfg.rater.feedback_taste, seed=0, rater_id="bench-rater")
    sizes = [int(s) for s in args.sizes.split(",")]
    t0 = time.time()
    pool = make_pairs(train_songs, n_pairs=max(sizes), raters=[rater], config=cfg, seed=1)
    test = make_pairs(test_songs, n_pairs=1000, raters=[rater], config=cfg, seed=2)
    print(f"made {len(pool)} + {len(test)} pairs in {time.time() - t0:.0f} s; ties {np.mean([r.preference == 'tie' for r in pool]):.1%}")
    # The ceiling: agreement of noisy labels with the rater's noise-free utility on the test pairs.
    by_id = {s.song_id: s for s in songs}
    agree = []
    for r in test:
        if r.preference == "tie":
            continue
        a = by_id[r.song_id]
        ua = rater.utility(a, r.a.plan(), target_seconds=r.target_seconds)
        ub = rater.utility(a, r.b.plan(), target_seconds=r.target_seconds)
        agree.append((ua > ub) == (r.preference == "a"))
    ceiling = float(np.mean(agree))
    mc = RewardModelConfig(d_model=args.d_model, n_layers=args.layers, d_ff=args.d_ff or 2 * args.d_model)
    tc = replace(cfg.reward_train, max_epochs=args.max_epochs) if args.max_epochs else cfg.reward_train
    rows = []
    for n in sizes:
        t1 = time.time()
        scorer = train_reward_model(pool[:n], by_id, model_config=mc, train_config=tc, log=lambda m: None)
        seqs, pairs = prepare(test, by_id)
        loss_fn = BradleyTerryLoss(tie_threshold=scorer.tie_threshold)
        m = evaluate(scorer.model, loss_fn, encode(seqs, scorer.normalizer, mc.beats_per_token), pairs, np.arange(len(test)))
        rows.append({"pairs": n, "test_accuracy": m["accuracy"], "test_log_loss": m["log_loss"], "test_ece": m["ece"], "best_epoch": scorer.metrics["best_epoch"], "seconds": time.time() - t1})
        print(f"{n:5d} pairs: test acc {m['accuracy']:.3f} log loss {m['log_loss']:.3f} ece {m['ece']:.3f} (best epoch {scorer.metrics['best_epoch']}, {time.time() - t1:.0f} s)", flush=True)
    params = sum(p.numel() for p in scorer.model.parameters())
    print(f"\nModel d={args.d_model}, {args.layers} layers, {params:,} parameters; test: {len(test)} pairs on {len(test_songs)} held-out songs\n")
    print("| training pairs | test accuracy (non-ties) | test log loss | test ECE | best epoch | train s |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['pairs']} | {r['test_accuracy']:.3f} | {r['test_log_loss']:.3f} | {r['test_ece']:.3f} | {r['best_epoch']} | {r['seconds']:.0f} |")
    print(f"| ceiling (labels vs the rater's noise-free utility) | {ceiling:.3f} | | | | |")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"reward_learning_d{args.d_model}_l{args.layers}.json").write_text(json.dumps({"rows": rows, "ceiling": ceiling, "params": params}, indent=1))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.semilogx([r["pairs"] for r in rows], [r["test_accuracy"] for r in rows], "o-", label="reward model")
    ax.axhline(ceiling, ls="--", c="gray", label="label-noise ceiling")
    ax.axhline(0.85, ls=":", c="red", label="target 0.85")
    ax.set_xlabel("training pairs")
    ax.set_ylabel("test accuracy (non-tie)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / f"reward_learning_d{args.d_model}_l{args.layers}.png", dpi=110)


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
