"""A pick that hedges across the listeners the service knows, against what it serves now (the reward
model's conservative favourite) — BENCHMARKS "Session 16", the tries that did not help.

**Listener heads**: for each pretraining taste (``rater.pretrain_tastes``), the shipped reward model
with its explicit path and mix refitted over its own (frozen) trunk, on the pairs that taste judged
among ``--pairs`` made over ``--songs`` (``scripts/real_pipeline.sh``'s training songs: what the
shipped model was pretrained on); ``reward_train``'s explicit-path fit, cross-validated. **The
hedge** serves, per job, the candidate of best of N with the least mean chance, over the heads, that
the head's favourite beats it: σ(s_fav − s − θ) with the head's own mean score and tie threshold.
**The standardised hedge** serves the best mean of the heads' scores, each standardised over the
job's candidates. The table counts the jobs where a pick serves another edit than the served one.

Judged as ``bench_shipped`` judges (its universe, every panel taste; the recordings through madmom's
references, the synthetic songs through their truth), regret of the served edit, of the hedges and of
the trivial editors (the plain cut with a fade-out, the search);
the panel's and the three unseen tastes' means.

    .venv/bin/python bench/bench_listener_heads.py --songs runs/real/songs [--real .cache/pick-validation] [--pairs 2000]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_regret import Judge, hear_all, universe  # noqa: E402
from bench_shipped import synthetic_songs  # noqa: E402

from editor_rl.config import load_config  # noqa: E402
from editor_rl.corpus.store import FeatureStore, list_songs, load_corpus  # noqa: E402
from editor_rl.editors.baselines import baseline_edit  # noqa: E402
from editor_rl.editors.best_of import best_picks, candidate_edits, job_seed  # noqa: E402
from editor_rl.policy.load import load_policy  # noqa: E402
from editor_rl.policy.shipped import shipped_model  # noqa: E402
from editor_rl.raters.rater import panel  # noqa: E402
from editor_rl.raters.synthetic import make_pairs  # noqa: E402
from editor_rl.raters.tastes import PANEL  # noqa: E402
from editor_rl.rewards.model import load_scorer  # noqa: E402
from editor_rl.rewards.sequence import edit_sequence  # noqa: E402
from editor_rl.rewards.train import train_reward_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def listener_heads(scorer, songs: dict, *, config, pairs: int, say) -> list:
    """One scorer per pretraining taste: ``scorer`` with its explicit path refitted on that taste's pairs."""
    raters = panel(config.rater.pretrain_tastes, seed=config.rater.seed)
    records = make_pairs(list(songs.values()), n_pairs=pairs, raters=raters, config=config, seed=77)
    explicit_only = dataclasses.replace(config.reward_train, transformer_min_pairs=10**9)  # the trunk stays the shipped one
    heads = []
    for r in raters:
        mine = [x for x in records if x.rater_id == r.rater_id]
        head = train_reward_model(mine, songs, train_config=explicit_only, pretrained=scorer, log=lambda m: None)
        say(f"head {r.taste.name}: {len(mine)} pairs, accuracy {head.metrics['initial_val_accuracy']:.3f} → {head.metrics['val_accuracy']:.3f}, θ {head.tie_threshold:.2f}")
        heads.append(head)
    return heads


def head_scores(scorer, heads: list, sequences: list, *, batch: int = 64) -> np.ndarray:
    """Each head's ensemble-mean score of each edit [shape=(n_edits, n_heads)]: the shared trunk once, each head's mix."""
    out = []
    with torch.no_grad():
        for i in range(0, len(sequences), batch):
            b = scorer.batch(sequences[i : i + batch])
            learned = scorer.model.trunk(b)
            out.append(np.stack([h.model.mix(learned, b.descriptors).mean(dim=1).numpy() for h in heads], axis=1))
    return np.concatenate(out)


def hedged_picks(jobs, candidates, *, scorer, heads) -> dict[str, list]:
    """Per job, two hedges over the heads: ``hedge`` the candidate with the least mean chance that the
    head's favourite beats it; ``hedge, standardised`` the best mean of each head's scores standardised
    over the job's candidates (each head counts alike, whatever its scale)."""
    theta = np.array([h.tie_threshold for h in heads])
    out: dict[str, list] = {"hedge": [], "hedge, standardised": []}
    for (a, t, _), props in zip(jobs, candidates):
        s = head_scores(scorer, heads, [edit_sequence(a, p.plan, target_seconds=t) for p in props])
        beaten = 1 / (1 + np.exp(-(s.max(axis=0) - s - theta)))
        out["hedge"].append(props[int(np.argmin(beaten.mean(axis=1)))].plan)
        z = (s - s.mean(axis=0)) / (s.std(axis=0) + 1e-6)
        out["hedge, standardised"].append(props[int(np.argmax(z.mean(axis=1)))].plan)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--songs", required=True, help="the songs the heads' pairs are made over (real_pipeline.sh's runs/real/songs)")
    ap.add_argument("--real", default=str(ROOT / ".cache" / "pick-validation"), help="recordings to judge on (scripts/pick_validation.sh)")
    ap.add_argument("--references", default=str(ROOT / ".cache" / "madmom"))
    ap.add_argument("--synthetic", type=int, default=12)
    ap.add_argument("--pairs", type=int, default=2000)
    ap.add_argument("--work", default=str(ROOT / "bench" / "results" / "listener_heads_work"))
    args = ap.parse_args()
    say = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    config = load_config(overrides=["run.num_cpus=2", "eval.target_seconds=[30,60]"])
    model = shipped_model()
    module, scorer = load_policy(model.policy), load_scorer(model.reward)
    store = FeatureStore(Path(args.work) / "features")
    heads = listener_heads(scorer, load_corpus(list_songs(args.songs), store=store, config=config), config=config, pairs=args.pairs, say=say)
    real = load_corpus(list_songs(args.real), store=store, config=config)
    hear_all(real, args.references)
    synthetic = load_corpus(synthetic_songs(Path(args.work) / "synthetic", args.synthetic, config, seconds=(120.0, 240.0)), store=store, config=config)
    unseen = list(config.rater.judge_tastes)
    print("| set | pick | jobs served another edit | regret, panel | unseen tastes | " + " | ".join(PANEL) + " |\n|---|---|---|---|---|" + "---|" * len(PANEL))
    for name, songs, refs in (("real", real, args.references), ("synthetic", synthetic, None)):
        jobs = [(a, t, job_seed(a, t)) for a in songs.values() for t in config.eval.targets(a.duration_s)]
        candidates = candidate_edits(module, jobs, config=config)
        picks = {"served": [p.plan for p in best_picks(module, jobs, scorer=scorer, config=config, candidates=candidates)],
                 **hedged_picks(jobs, candidates, scorer=scorer, heads=heads),
                 **{name: [baseline_edit(name, a, target_seconds=t, config=config) for a, t, _ in jobs] for name in ("plain_cut", "search")}}
        worlds = universe(jobs, module, config)
        judges = {t: Judge(t, jobs, worlds, refs) for t in PANEL}
        for pick, plans in picks.items():
            r = {t: j.regret(plans) for t, j in judges.items()}
            other = sum(a != b for a, b in zip(plans, picks["served"]))
            print(f"| {name} | {pick} | {other}/{len(jobs)} | {np.mean(list(r.values())):.2f} | {np.mean([r[t] for t in unseen]):.2f} | " + " | ".join(f"{r[t]:.2f}" for t in PANEL) + " |")


if __name__ == "__main__":
    main()
