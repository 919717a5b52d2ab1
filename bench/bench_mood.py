"""Edits asked for a mood, judged by the truth: held-out synthetic songs whose sections have known moods.

For each song, each named mood and each target (``--ratios`` of the song), the edits compared are:

- **served, asked**: the model's best of N asked for the mood (what ``editor-rl edit --mood`` and
  ``/api/edit`` with a mood give);
- **served, no mood**: its best of N asked for no mood (the base rate of an edit nobody steered);
- **mood search** (pre-RL): the search steered by the mood term alone (``editors.mood``, strength 1);
- the trivial editors: the **plain cut** with a fade-out and the **search**;
- with ``--policies NAME=CKPT,…``: each policy's own greedy edit asked for the mood (a policy trained
  with ``env.mood_conditioning`` sees it; one trained without edits as if none were asked) — e.g.
  the behaviour-cloned start and the PPO result of one run: pre-RL against post-RL.

Figures, per mood and target: how often each edit **matches** the mood by the truth
(:func:`editor_rl.raters.moods.matches_mood`: as near it as the song's best fifth of same-length
excerpts); the length promise (|length error| and the share kept); seams on true bar lines (the
``on_bar`` aspect, through the truth) and clean joins (``seams``) of the served edit with and without
the mood; and the **regret** of the mood listeners (:data:`~editor_rl.raters.moods.MOOD_TASTES`):
how often their favourite among everything the system can make for the job (every window, every
one-cut edit, the baselines, 16 section searches, the policy's edits, mood searches at five
strengths) beats what is served, asked and not asked for the mood.

Writes ``bench/results/mood.json`` and ``docs/benchmarks/mood.png``; prints Markdown tables.

    .venv/bin/python bench/bench_mood.py [--n 12] [--seed 9300] [--ratios 0.3,0.5] [--model DIR]
        [--checkpoint CKPT --reward CKPT] [--policies bc=RUN/checkpoints/bc,ppo=RUN/checkpoints/best]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_regret import universe  # noqa: E402

from editor_rl.audio.analysis import analyze_file  # noqa: E402
from editor_rl.audio.mood import MOOD_NAMES, named_mood  # noqa: E402
from editor_rl.audio.synth import write_corpus  # noqa: E402
from editor_rl.config import SynthConfig, load_config  # noqa: E402
from editor_rl.editors.baselines import baseline_edit  # noqa: E402
from editor_rl.editors.best_of import best_picks, job_seed  # noqa: E402
from editor_rl.editors.mood import mood_search_edits  # noqa: E402
from editor_rl.policy.load import load_policy  # noqa: E402
from editor_rl.policy.rollouts import policy_edits  # noqa: E402
from editor_rl.policy.shipped import shipped_model  # noqa: E402
from editor_rl.raters.moods import MOOD_TASTES, matches_mood, mood_utility  # noqa: E402
from editor_rl.raters.rater import SimulatedRater  # noqa: E402
from editor_rl.rewards.model import load_scorer  # noqa: E402
from editor_rl.search.promise import keeps_promise  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def songs(n: int, seed: int, config, folder: Path) -> list[tuple]:
    """``n`` held-out mood songs: (analysis, truth)."""
    return [(analyze_file(p, config=config), json.loads(p.with_suffix(".truth.json").read_text()))
            for p in write_corpus(folder, n=n, seed=seed, config=SynthConfig(moods=True))]


def edits(data, ratios, *, module, scorer, config, say, policies: dict | None = None) -> list[dict]:
    """Every job's edits: one record per (song, ratio, mood) with each method's plan."""
    jobs = []
    for si, (a, truth) in enumerate(data):
        for ratio in ratios:
            t = ratio * a.duration_s
            base = (a, t, job_seed(a, t))
            (plain,) = best_picks(module, [base], scorer=scorer, config=config)
            fixed = {"no_mood": plain.plan, "plain_cut": baseline_edit("plain_cut", a, target_seconds=t, config=config),
                     "search": baseline_edit("search", a, target_seconds=t, config=config)}
            moods = [named_mood(m) for m in MOOD_NAMES]
            picks = best_picks(module, [base] * len(moods), scorer=scorer, config=config, moods=moods)
            own = {name: policy_edits(m, [(a, t, 0.0, 0)] * len(moods), config=config, moods=moods) for name, m in (policies or {}).items()}
            for k, (mood, pick) in enumerate(zip(moods, picks)):
                steered = mood_search_edits(a, target_seconds=t, mood=mood, config=config, strengths=(1.0,))[0]
                jobs.append({"song": si, "ratio": ratio, "target": t, "mood": mood, "kind": pick.kind,
                             "plans": {"asked": pick.plan, "no_mood": fixed["no_mood"], "mood_search": steered}
                             | {f"policy:{n}": e[k] for n, e in own.items()} | {m: fixed[m] for m in ("plain_cut", "search")}})
        say(f"  {si + 1}/{len(data)} {a.song_id}")
    return jobs


def judge(jobs, data, *, module, config, say) -> None:
    """Adds each job's figures: matches, length, seams, and the mood listeners' regret."""
    raters = {name: SimulatedRater(t.as_taste(), seed=707) for name, t in MOOD_TASTES.items()}
    worlds: dict[tuple, list] = {}
    for k, job in enumerate(jobs):
        a, truth = data[job["song"]]
        t, mood = job["target"], job["mood"]
        key = (job["song"], job["ratio"])
        if key not in worlds:
            worlds[key] = universe([(a, t, 0)], module, config)[0]
        world = worlds[key] + mood_search_edits(a, target_seconds=t, mood=mood, config=config, strengths=(0.25, 0.5, 1.0, 2.0, 4.0))
        beat = float(np.median(a.beat_ends_s - a.beats_s))
        job["match"] = {m: bool(matches_mood(truth, p, mood)) for m, p in job["plans"].items()}
        job["length_error"] = {m: abs(p.duration_s - t) / t for m, p in job["plans"].items()}
        job["promise"] = {m: bool(keeps_promise(p.duration_s, t, beat)) for m, p in job["plans"].items()}
        aspects = {m: raters["mood_and_seams"].aspects(a, p, target_seconds=t) for m, p in job["plans"].items()}
        job["on_bar"] = {m: aspects[m]["on_bar"] for m in aspects}
        job["seams"] = {m: aspects[m]["seams"] for m in aspects}
        job["regret"] = {}
        for name, taste in MOOD_TASTES.items():
            u = lambda p: mood_utility(raters[name], taste, a, p, truth=truth, mood=mood, target_seconds=t)  # noqa: E731
            best = max(u(p) for p in world)
            job["regret"][name] = {m: _beats(best, u(job["plans"][m]), raters[name].taste) for m in ("asked", "no_mood")}
        if (k + 1) % 12 == 0:
            say(f"  judged {k + 1}/{len(jobs)}")


def _beats(best: float, served: float, taste) -> float:
    """Expected share of the favourite beating the served edit (beyond the tie margin)."""
    d = max(best, served) - served
    return 0.0 if d < taste.tie_margin else float(1 / (1 + np.exp(-d / taste.noise)))


def summary(jobs) -> dict:
    """Match rates per mood × ratio × method, and the overall figures."""
    methods = list(jobs[0]["plans"])  # the methods of this run
    rows = []
    for name in MOOD_NAMES:
        for ratio in sorted({j["ratio"] for j in jobs}):
            js = [j for j in jobs if j["mood"].name == name and j["ratio"] == ratio]
            rows.append({"mood": name, "ratio": ratio, "jobs": len(js)} | {m: float(np.mean([j["match"][m] for j in js])) for m in methods})
    mean = lambda key, m: float(np.mean([j[key][m] for j in jobs]))  # noqa: E731
    overall = {"match": {m: mean("match", m) for m in methods}, "length_error": {m: mean("length_error", m) for m in methods},
               "promise": {m: mean("promise", m) for m in methods}, "on_bar": {m: mean("on_bar", m) for m in methods},
               "seams": {m: mean("seams", m) for m in methods}, "cuts": {m: float(np.mean([j["plans"][m].n_seams for j in jobs])) for m in methods},
               "regret": {name: {m: float(np.mean([j["regret"][name][m] for j in jobs])) for m in ("asked", "no_mood")} for name in MOOD_TASTES},
               "kinds": {k: sum(j["kind"] == k for j in jobs) for k in sorted({j["kind"] for j in jobs})}}
    return {"rows": rows, "overall": overall, "methods": methods}


def table(s: dict) -> str:
    methods = s["methods"]
    lines = ["| mood | target | jobs | " + " | ".join(methods) + " |", "|---|---|---|" + "---|" * len(methods)]
    for r in s["rows"]:
        lines.append(f"| {r['mood']} | {round(100 * r['ratio'])} % | {r['jobs']} | " + " | ".join(f"{r[m]:.2f}" for m in methods) + " |")
    o = s["overall"]
    lines.append("| **all** | | " + str(sum(r["jobs"] for r in s["rows"])) + " | " + " | ".join(f"**{o['match'][m]:.2f}**" for m in methods) + " |")
    lines += ["", "| method | mean length error | promise kept | cuts per edit | cuts on true bar lines (`on_bar`) | clean joins (`seams`) |", "|---|---|---|---|---|---|"]
    for m in methods:
        lines.append(f"| {m} | {o['length_error'][m]:.3f} | {o['promise'][m]:.2f} | {o['cuts'][m]:.2f} | {o['on_bar'][m]:.3f} | {o['seams'][m]:.3f} |")
    lines += ["", "| mood listener | regret, served asked | regret, served no mood |", "|---|---|---|"]
    lines += [f"| {n} | {r['asked']:.2f} | {r['no_mood']:.2f} |" for n, r in o["regret"].items()]
    return "\n".join(lines)


def plot(s: dict, path: Path) -> None:
    methods = s["methods"]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ratios = sorted({r["ratio"] for r in s["rows"]})
    fig, axes = plt.subplots(1, len(ratios), figsize=(6 * len(ratios), 4), sharey=True)
    for ax, ratio in zip(np.atleast_1d(axes), ratios):
        rows = [r for r in s["rows"] if r["ratio"] == ratio]
        x = np.arange(len(rows))
        width = 0.8 / len(methods)
        for k, m in enumerate(methods):
            ax.bar(x + (k - (len(methods) - 1) / 2) * width, [r[m] for r in rows], width, label=m)
        ax.axhline(0.8, color="k", ls="--", lw=0.8)
        ax.set_xticks(x, [r["mood"] for r in rows], rotation=20)
        ax.set_title(f"target {round(100 * ratio)} % of the song")
        ax.set_ylabel("matches the mood (by the truth)")
    np.atleast_1d(axes)[0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=12, help="held-out mood songs")
    ap.add_argument("--seed", type=int, default=9300)
    ap.add_argument("--ratios", default="0.3,0.5")
    ap.add_argument("--model", default=None, help="a shipped-model folder (default: the package's)")
    ap.add_argument("--checkpoint", default=None, help="a policy to serve best of N with instead of the shipped model's (with --reward)")
    ap.add_argument("--reward", default=None, help="its reward model")
    ap.add_argument("--policies", default="", help="NAME=CKPT,… policies whose own greedy edits are judged too")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config overrides")
    args = ap.parse_args()
    say = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    t0 = time.time()
    config = load_config(overrides=args.set)
    model = shipped_model(args.model)
    module, scorer = load_policy(args.checkpoint or model.policy), load_scorer(args.reward or model.reward)
    policies = {k: load_policy(v) for k, v in (x.split("=", 1) for x in args.policies.split(",") if x)}
    with tempfile.TemporaryDirectory() as tmp:
        data = songs(args.n, args.seed, config, Path(tmp))
        say(f"analysed {len(data)} mood songs ({time.time() - t0:.0f} s)")
        jobs = edits(data, [float(r) for r in args.ratios.split(",")], module=module, scorer=scorer, config=config, say=say, policies=policies)
        made = time.time() - t0
        judge(jobs, data, module=module, config=config, say=say)
    s = summary(jobs)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    name = "mood_policies" if policies else "mood"
    (out / f"{name}.json").write_text(json.dumps(s | {"settings": vars(args), "card_commit": model.card.get("commit"), "seconds": round(time.time() - t0, 1),
                                                   "edits_seconds": round(made, 1)}, indent=1))
    plot(s, ROOT / "docs" / "benchmarks" / f"{name}.png")
    print(table(s))
    print(f"\n{len(jobs)} jobs; served edits' kinds {s['overall']['kinds']}; total {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
