"""A listener whose sense of a mood is not ours: do their mood judgements teach the mood head?

The listener (:class:`~editor_rl.raters.moods.MoodListener`) hears "energetic" nearer tense and
"calm" nearer dark than the named points say; they judge by the truth which of two edits fits the
mood asked for. Their judgements of pairs of candidates — the edits best of N considers for a
mood job: the searches and windows steered toward every named mood, the plain cut and the search —
on **training** songs fit their mood head (:func:`~editor_rl.rewards.mood_head.fit_mood_head`).
On **held-out** songs (never judged), before and after:

- **agreement**: the share of held-out pairs (the listener not tied) whose side nearer the mood,
  by the head and our analysis, is the side the listener chose;
- **served match**: how often the served edit (best of N, the shipped model) asked for the named
  mood matches the mood *as this listener hears it*, by the truth (``matches_mood``) — the served
  edit aims at the named point before and at the listener's fitted point after.

A control listener who hears the moods at the named points shows what fitting does when there
is nothing to learn. Writes ``bench/results/mood_head.json``; prints a Markdown table.

    .venv/bin/python bench/bench_mood_head.py [--train 16] [--heldout 12] [--pairs 8]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from editor_rl.audio.analysis import analyze_file
from editor_rl.audio.mood import MOOD_NAMES, named_mood
from editor_rl.audio.synth import write_corpus
from editor_rl.config import SynthConfig, load_config
from editor_rl.editors.baselines import baseline_edit
from editor_rl.editors.best_of import best_picks, job_seed
from editor_rl.editors.mood import edit_mood_distance, mood_search_edits, mood_window_edits
from editor_rl.policy.load import load_policy
from editor_rl.policy.shipped import shipped_model
from editor_rl.raters.moods import MoodListener, matches_mood
from editor_rl.rewards.mood_head import MoodHead, MoodJudgement, fit_mood_head
from editor_rl.rewards.model import load_scorer

ROOT = Path(__file__).resolve().parents[1]
ASKED = ("energetic", "calm")
LISTENERS = (MoodListener("own_sense", {"energetic": (0.7, -0.45), "calm": (-0.55, -0.45)}), MoodListener("named_sense", {}))


def songs(n: int, seed: int, config, folder: Path) -> list[tuple]:
    return [(analyze_file(p, config=config), json.loads(p.with_suffix(".truth.json").read_text()))
            for p in write_corpus(folder, n=n, seed=seed, config=SynthConfig(moods=True))]


def candidates(a, t: float, config) -> list:
    """What best of N considers for a mood job, over every named mood: steered searches and windows, the plain cut, the search."""
    out = [baseline_edit("plain_cut", a, target_seconds=t, config=config), baseline_edit("search", a, target_seconds=t, config=config)]
    for name in MOOD_NAMES:
        out += mood_search_edits(a, target_seconds=t, mood=named_mood(name), config=config, strengths=(1.0,))
        out += mood_window_edits(a, target_seconds=t, mood=named_mood(name), count=1)
    unique = {p.beat_order: p for p in out}
    return list(unique.values())


def beats_of(a, plan) -> tuple[np.ndarray, np.ndarray]:
    order = np.asarray(plan.beat_order)
    return a.mood[order], (a.beat_ends_s - a.beats_s)[order]


def judged_pairs(data, listener: MoodListener, *, pairs: int, ratio: float, config, rng) -> list[tuple]:
    """(analysis, mood, a, b, the listener's answer) for ``pairs`` random pairs per song and asked mood."""
    out = []
    for a, truth in data:
        t = ratio * a.duration_s
        cands = candidates(a, t, config)
        for name in ASKED:
            mood = named_mood(name)
            for _ in range(pairs):
                i, j = rng.choice(len(cands), size=2, replace=False)
                out.append((a, mood, cands[i], cands[j], listener.fits_better(truth, cands[i], cands[j], mood, rng)))
    return out


def agreement(pairs, head: MoodHead) -> float:
    """Share of the listener's non-tie answers whose side is nearer the head's point by our analysis."""
    hits = [(edit_mood_distance(a, pa, head.mood(m)) < edit_mood_distance(a, pb, head.mood(m))) == (pref == "a")
            for a, m, pa, pb, pref in pairs if pref != "tie"]
    return float(np.mean(hits))


def served_match(data, listener: MoodListener, head: MoodHead, *, module, scorer, config) -> float:
    """How often the served edit asked for each named mood (aimed by ``head``) matches it as the listener hears it."""
    hits = []
    for a, truth in data:
        for ratio in (0.3, 0.5):
            t = ratio * a.duration_s
            moods = [named_mood(n) for n in ASKED]
            picks = best_picks(module, [(a, t, job_seed(a, t))] * len(moods), scorer=scorer, config=config, moods=[head.mood(m) for m in moods])
            hits += [matches_mood(truth, p.plan, listener.hears(m)) for m, p in zip(moods, picks)]
    return float(np.mean(hits))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=int, default=16, help="mood songs the listener judges pairs of")
    ap.add_argument("--heldout", type=int, default=12, help="mood songs never judged")
    ap.add_argument("--pairs", type=int, default=8, help="pairs per training song and asked mood")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    say = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    t0 = time.time()
    config = load_config()
    model = shipped_model()
    module, scorer = load_policy(model.policy), load_scorer(model.reward)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        train, held = songs(args.train, 9400, config, Path(tmp) / "train"), songs(args.heldout, 9300, config, Path(tmp) / "held")
        say(f"analysed {len(train)} + {len(held)} mood songs ({time.time() - t0:.0f} s)")
        for listener in LISTENERS:
            rng = np.random.default_rng(args.seed)
            teach = judged_pairs(train, listener, pairs=args.pairs, ratio=0.4, config=config, rng=rng)
            test = judged_pairs(held, listener, pairs=args.pairs, ratio=0.4, config=config, rng=rng)
            head = fit_mood_head([MoodJudgement(m.name, *beats_of(a, pa), *beats_of(a, pb), pref) for a, m, pa, pb, pref in teach])
            before, after = MoodHead(), head
            row = {"listener": listener.name, "judgements": len(teach), "ties": sum(p[-1] == "tie" for p in teach),
                   "points": {n: [round(x, 3) for x in head.points[n]] for n in ASKED}, "own": {n: [round(float(x), 3) for x in listener.hears(named_mood(n)).point] for n in ASKED},
                   "agreement_before": agreement(test, before), "agreement_after": agreement(test, after),
                   "served_match_before": served_match(held, listener, before, module=module, scorer=scorer, config=config),
                   "served_match_after": served_match(held, listener, after, module=module, scorer=scorer, config=config)}
            rows.append(row)
            say(f"{listener.name}: {row}")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "mood_head.json").write_text(json.dumps({"rows": rows, "settings": vars(args), "seconds": round(time.time() - t0, 1)}, indent=1))
    print("| listener | judgements (ties) | fitted energetic | fitted calm | their own | agreement before → after | served match before → after |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['listener']} | {r['judgements']} ({r['ties']}) | {r['points']['energetic']} | {r['points']['calm']} | "
              f"{r['own']['energetic']}, {r['own']['calm']} | {r['agreement_before']:.2f} → {r['agreement_after']:.2f} | "
              f"{r['served_match_before']:.2f} → {r['served_match_after']:.2f} |")
    print(f"\ntotal {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
