"""Taste transfer: does the reward model learn a listener it never saw from a few labels?

For every taste T of the panel (``editor_rl.raters.tastes``):

1. pretrain on ``--pretrain`` pairs of the training songs, each labelled by a rater of one of the
   *other* tastes (the mixture minus T);
2. fine-tune on N ∈ {25, 50, 100, 200, 400} pairs of the training songs labelled by a rater of T;
3. score on 500 pairs of held-out songs labelled by *another* rater of T (accuracy on non-tie pairs).

Beside it, in the same table: a logistic regression on the edit descriptors alone fit to the same
N labels, the model trained from scratch on the 400, and the ceiling (how often the test rater's
noisy labels agree with its own noise-free utility: no model can do better on average).

Then ``editor-rl reward train --preferences F --songs D`` (the CLI, from scratch) on 400 labels of the
``bar_lines`` taste (cuts cost, off the bar line more, the length, the chorus), over 2 songs and over
20, with and without ``target_seconds`` (without: the rater judged with no length asked for), each
scored on 500 held-out pairs.

Writes ``bench/results/taste_transfer.{json,png}`` and prints Markdown tables.

    .venv/bin/python bench/bench_taste_transfer.py [--pretrain 1500] [--tastes few_cuts,…]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

from editor_rl.audio.synth import write_corpus
from editor_rl.config import Config
from editor_rl.corpus.store import FeatureStore, load_corpus
from editor_rl.raters.rater import SimulatedRater
from editor_rl.preferences.records import Candidate, PreferenceRecord, write_jsonl
from editor_rl.raters.synthetic import generators
from editor_rl.raters.tastes import PANEL
from editor_rl.rewards.train import train_reward_model
from editor_rl.rewards.sequence import edit_sequence

ROOT = Path(__file__).resolve().parents[1]
NS = (25, 50, 100, 200, 400)


def unlabelled_pairs(songs, n, seed, config):
    """``n`` pairs of candidate edits (song, target, plan a, plan b) from the synthetic generators."""
    gens = generators(config)
    names = sorted(gens)
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        a = songs[int(rng.integers(len(songs)))]
        t = round(float(rng.uniform(0.35, 0.8)) * a.duration_s, 2)
        ga, gb = rng.choice(len(names), 2, replace=False)
        out.append((a, t, gens[names[ga]](a, t, rng), gens[names[gb]](a, t, rng), f"{names[ga]}|{names[gb]}"))
    return out


def label(pairs, raters, seed, *, with_target=True):
    """Records of ``pairs`` each judged by one of ``raters`` (drawn at random)."""
    rng = np.random.default_rng(seed)
    recs = []
    for k, (a, t, pa, pb, how) in enumerate(pairs):
        r = raters[int(rng.integers(len(raters)))]
        j = r.judge(a, pa, pb, target_seconds=t if with_target else None)
        recs.append(PreferenceRecord(pair_id=f"p{seed}-{k}", song_id=a.song_id, a=Candidate(f"{k}a", pa.to_edl()), b=Candidate(f"{k}b", pb.to_edl()),
                                     preference=j.preference, strength=j.strength, rater_id=r.rater_id, source="synthetic",
                                     target_seconds=t if with_target else None))
    return recs


def ceiling(pairs, rater, *, with_target=True):
    """Share of the rater's non-tie judgements that agree with its own noise-free utility."""
    agree = []
    for a, t, pa, pb, _ in pairs:
        tt = t if with_target else None
        ua, ub = rater.utility(a, pa, target_seconds=tt), rater.utility(a, pb, target_seconds=tt)
        j = rater.judge_utilities(ua, ub)
        if j.preference != "tie":
            agree.append((j.preference == "a") == (ua > ub))
    return float(np.mean(agree))


def accuracy(scorer, records, by_id):
    """Non-tie accuracy of a reward model on records (sign of the score gap)."""
    seqs = []
    keep = [r for r in records if r.preference != "tie"]
    for r in keep:
        a = by_id[r.song_id]
        seqs += [edit_sequence(a, r.a.plan(), target_seconds=r.target_seconds), edit_sequence(a, r.b.plan(), target_seconds=r.target_seconds)]
    s = scorer.score(seqs)[0]
    return float(np.mean([(s[2 * i] > s[2 * i + 1]) == (r.preference == "a") for i, r in enumerate(keep)]))


def descriptor_logreg(train, test, by_id, l2=1.0):
    """A logistic regression on descriptor differences, fit to ``train``'s non-tie records; accuracy on ``test``."""
    def xy(records):
        keep = [r for r in records if r.preference != "tie"]
        d = np.stack([edit_sequence(by_id[r.song_id], r.a.plan(), target_seconds=r.target_seconds).descriptors
                      - edit_sequence(by_id[r.song_id], r.b.plan(), target_seconds=r.target_seconds).descriptors for r in keep])
        return d, np.array([1.0 if r.preference == "a" else 0.0 for r in keep])

    x, y = xy(train)
    scale = x.std(axis=0) + 1e-6
    x = x / scale

    def loss(w):
        z = x @ w
        return float(np.sum(np.logaddexp(0.0, z) - y * z) + 0.5 * l2 * w @ w), (x.T @ (1.0 / (1.0 + np.exp(-z)) - y) + l2 * w)

    w = minimize(loss, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B").x
    xt, yt = xy(test)
    return float(np.mean(((xt / scale) @ w > 0) == (yt == 1.0)))


def transfer(tastes, train_pairs, tune_pairs, test_pairs, by_id, config, n_pretrain, say):
    rows = {}
    for t in tastes:
        t0 = time.time()
        others = [SimulatedRater(o, seed=11) for o in PANEL if o != t]
        pre = train_reward_model(label(train_pairs[:n_pretrain], others, seed=1), by_id, model_config=config.reward_model, train_config=config.reward_train,
                                 log=lambda m: None)
        tune = label(tune_pairs, [SimulatedRater(t, seed=21)], seed=2)
        test = label(test_pairs, [SimulatedRater(t, seed=31)], seed=3)
        row = {"pretrained_only": accuracy(pre, test, by_id), "ceiling": ceiling(test_pairs, SimulatedRater(t, seed=31))}
        for n in NS:
            tuned = train_reward_model(tune[:n], by_id, train_config=config.reward_train, pretrained=pre, log=lambda m: None)
            row[f"model_{n}"] = accuracy(tuned, test, by_id)
            row[f"logreg_{n}"] = descriptor_logreg(tune[:n], test, by_id)
        scratch = train_reward_model(tune[:400], by_id, model_config=config.reward_model, train_config=config.reward_train, log=lambda m: None)
        row["scratch_400"] = accuracy(scratch, test, by_id)
        row["seconds"] = round(time.time() - t0, 1)
        rows[t] = row
        say(f"{t}: " + ", ".join(f"{k} {v:.3f}" for k, v in row.items() if k != "seconds") + f" ({row['seconds']} s)")
    return rows


def cli_from_scratch(all_songs, test_pairs, by_id, songs_dir, store_dir, config, say):
    """`editor-rl reward train` from scratch on 400 labels of bar_lines: 2 songs or 20, with or without targets."""
    out = {}
    for n_songs in (2, 20):
        pool = unlabelled_pairs(all_songs[:n_songs], 400, seed=40 + n_songs, config=config)
        for with_target in (True, False):
            recs = label(pool, [SimulatedRater("bar_lines", seed=41)], seed=4, with_target=with_target)
            test = label(test_pairs, [SimulatedRater("bar_lines", seed=42)], seed=5, with_target=with_target)
            with tempfile.TemporaryDirectory() as d:
                prefs, ckpt = Path(d) / "prefs.jsonl", Path(d) / "r.pt"
                write_jsonl(prefs, recs)
                t0 = time.time()
                run = subprocess.run([str(Path(sys.executable).with_name("editor-rl")), "reward", "train", "--preferences", str(prefs), "--songs", str(songs_dir),
                                      "--out", str(ckpt), "--set", f"corpus.store_dir={store_dir}"], capture_output=True, text=True)
                assert run.returncode == 0, run.stderr[-2000:]
                from editor_rl.rewards.model import load_scorer

                key = f"{n_songs} songs, {'with' if with_target else 'without'} target_seconds"
                out[key] = {"accuracy": accuracy(load_scorer(ckpt), test, by_id), "seconds": round(time.time() - t0, 1),
                            "ceiling": ceiling(test_pairs, SimulatedRater("bar_lines", seed=42), with_target=with_target)}
                say(f"reward train from scratch, {key}: {out[key]}")
    return out


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, (len(rows) + 1) // 2, figsize=(3.2 * ((len(rows) + 1) // 2), 6), sharey=True)
    for ax, (t, r) in zip(axes.ravel(), rows.items()):
        ax.plot(NS, [r[f"model_{n}"] for n in NS], "o-", label="reward model (fine-tuned)")
        ax.plot(NS, [r[f"logreg_{n}"] for n in NS], "s--", label="logistic regression on descriptors")
        ax.axhline(r["ceiling"], c="gray", ls=":", label="label-noise ceiling")
        ax.set_xscale("log")
        ax.set_xticks(NS, [str(n) for n in NS])
        ax.minorticks_off()
        ax.set_title(t)
        ax.set_ylim(0.5, 1.0)
        ax.set_xlabel("labels of the unseen taste")
    axes.ravel()[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pretrain", type=int, default=1500, help="pretraining pairs (mixture of the other tastes)")
    ap.add_argument("--tastes", default=",".join(PANEL), help="tastes to hold out in turn")
    ap.add_argument("--work", default=str(ROOT / "bench" / "results" / "taste_work"))
    args = ap.parse_args()
    say = lambda m: print(m, flush=True)  # noqa: E731
    config = Config()
    work = Path(args.work)
    train_dir, test_dir, store = work / "train", work / "heldout", work / "features"
    if not train_dir.is_dir():
        write_corpus(train_dir, n=24, seed=500, config=config.synth)
        for p in write_corpus(test_dir, n=8, seed=600, config=config.synth):  # their own names: song ids must not collide
            p.with_suffix(".truth.json").rename(p.with_name(f"heldout_{p.stem}.truth.json"))
            p.rename(p.with_name(f"heldout_{p.name}"))
    cfg = replace(config, corpus=replace(config.corpus, store_dir=str(store)))
    train_songs = list(load_corpus(sorted(train_dir.glob("*.wav")), store=FeatureStore(store), config=cfg).values())
    test_songs = list(load_corpus(sorted(test_dir.glob("*.wav")), store=FeatureStore(store), config=cfg).values())
    assert not {a.song_id for a in train_songs} & {a.song_id for a in test_songs}
    by_id = {a.song_id: a for a in train_songs + test_songs}
    t0 = time.time()
    say("making candidate pairs")
    train_pairs = unlabelled_pairs(train_songs, args.pretrain, seed=1, config=cfg)
    tune_pairs = unlabelled_pairs(train_songs, 400, seed=2, config=cfg)
    test_pairs = unlabelled_pairs(test_songs, 500, seed=3, config=cfg)
    say(f"pairs made in {time.time() - t0:.0f} s")
    rows = transfer(args.tastes.split(","), train_pairs, tune_pairs, test_pairs, by_id, cfg, args.pretrain, say)
    all_dir = work / "all"
    all_dir.mkdir(exist_ok=True)
    for a in train_songs + test_songs:
        link = all_dir / Path(a.path).name
        if not link.exists():
            link.symlink_to(Path(a.path).resolve())
    scratch = cli_from_scratch(train_songs, test_pairs, by_id, all_dir, store, cfg, say)
    result = {"pretrain_pairs": args.pretrain, "model": cfg.reward_model.__dict__, "train": cfg.reward_train.__dict__, "transfer": rows, "cli_from_scratch": scratch,
              "seconds": round(time.time() - t0, 1)}
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "taste_transfer.json").write_text(json.dumps(result, indent=1))
    plot(rows, out / "taste_transfer.png")
    print("\n| held-out taste | ceiling | pretrained only | " + " | ".join(f"{n} labels" for n in NS) + " | logreg " + " / ".join(str(n) for n in NS)
          + " | scratch, 400 |")
    print("|---|---|---|" + "---|" * len(NS) + "---|---|")
    for t, r in rows.items():
        print(f"| {t} | {r['ceiling']:.3f} | {r['pretrained_only']:.3f} | " + " | ".join(f"{r[f'model_{n}']:.3f}" for n in NS) + " | "
              + " / ".join(f"{r[f'logreg_{n}']:.2f}" for n in NS) + f" | {r['scratch_400']:.3f} |")
    print("\n| `reward train` from scratch, 400 labels of bar_lines | accuracy | ceiling | seconds |\n|---|---|---|---|")
    for k, v in scratch.items():
        print(f"| {k} | {v['accuracy']:.3f} | {v['ceiling']:.3f} | {v['seconds']} |")
    print(f"\ntotal {result['seconds']} s; {out / 'taste_transfer.png'}")


if __name__ == "__main__":
    main()
