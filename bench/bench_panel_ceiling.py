"""How well could *any* edit do? The ceiling of issue 11's policy goals for the tastes held out.

Issue 11 asks the quickstart policy to be preferred, by every taste held out of the reward model's
pretraining, to the search in ≥ 0.55 of pairs and to the plain cut in ≥ 0.8. Whether a policy can
get there depends on whether such edits exist: one edit per job, judged by all held-out tastes.
This benchmark lets an oracle that *knows* the tastes choose, per held-out job (song × target),
among many edits that keep the length promise:

- the baselines (search, plain cut, every other phrase) and ``--sections`` searches favouring
  random sections;
- every contiguous window that starts on a downbeat (fading out unless it ends with the song);
- every one-cut edit that keeps the song's opening and its ending, the cut leaving at a bar end
  and landing on a downbeat (the search's family, exhaustively);
- the policy's greedy edit and ``--samples`` sampled edits (``checkpoints/best``).

A judgement's expected value is exact, not sampled: ½ within the taste's tie margin, else
σ(Δu / noise). For each criterion (taste × baseline) the table gives the policy's expected win rate;
the reward model's conservative favourite (mean − ``pick.uncertainty_penalty`` × spread), once among
today's best-of-N kinds (the policy's edits, the search, section searches) and once among all the
candidates above; the best any candidate reaches for that criterion alone (averaged over jobs); and
the win rates of the *maximin* oracle, which picks per job the candidate whose worst criterion is
best — the most a single policy could show on all criteria at once with these candidates.

    .venv/bin/python bench/bench_panel_ceiling.py [--quickstart runs/quickstart] [--sections 16] [--samples 8]
    .venv/bin/python bench/bench_panel_ceiling.py --quickstart runs/real --config configs/real.yaml \
        --songs .cache/real-music/heldout --tastes all --set eval.max_songs=17 --suffix _real   # issue 13: real tracks, the whole panel

Writes ``bench/results/panel_ceiling.{json,png}`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from editor_rl.audio.analysis import SongAnalysis
from editor_rl.editors.baselines import baseline_edit, one_cut_edits, section_search_edit, window_edits
from editor_rl.config import load_config
from editor_rl.corpus.store import FeatureStore, list_songs, load_corpus
from editor_rl.edit.plan import EditPlan
from editor_rl.search.promise import keeps_promise
from editor_rl.policy.rollouts import policy_edits
from editor_rl.raters.rater import SimulatedRater
from editor_rl.raters.tastes import PANEL
from editor_rl.rewards.model import load_scorer
from editor_rl.rewards.sequence import edit_sequence
from editor_rl.policy.load import load_policy

ROOT = Path(__file__).resolve().parents[1]
BASELINES = ("search", "plain_cut")


def candidates(a: SongAnalysis, target: float, policy: list[EditPlan], *, sections: int, config) -> dict[str, list[EditPlan]]:
    """Every kind of candidate for one job, only those that keep the length promise."""
    rng = np.random.default_rng(0)
    kinds = {"search": [baseline_edit("search", a, target_seconds=target, config=config)],
             "plain_cut": [baseline_edit("plain_cut", a, target_seconds=target, config=config)],
             "every_other_phrase": [baseline_edit("every_other_phrase", a, target_seconds=target, config=config)],
             "section searches": [section_search_edit(a, target_seconds=target, config=config, rng=rng) for _ in range(sections)],
             "windows": window_edits(a, target_seconds=target), "one cut, opening and ending kept": one_cut_edits(a, target_seconds=target), "policy": policy}
    beat = float(np.median(a.beat_ends_s - a.beats_s))
    return {k: [p for p in v if keeps_promise(p.duration_s, target, beat)] for k, v in kinds.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quickstart", default=str(ROOT / "runs" / "quickstart"), help="a finished run's work folder (checkpoints/best, features/)")
    ap.add_argument("--sections", type=int, default=16)
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--songs", default="", help="held-out songs (default: the quickstart's heldout/)")
    ap.add_argument("--tastes", default="", help="comma-separated, or 'all' for the whole panel (default: rater.judge_tastes)")
    ap.add_argument("--reward", default="", help="reward model (default: the quickstart's final one, else <run>/reward/reward.pt)")
    ap.add_argument("--suffix", default="", help="appended to the output files' names")
    ap.add_argument("--config", default=None, help="a config file (default: the embedded one), e.g. configs/real.yaml")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    qs = Path(args.quickstart)
    if not (qs / "checkpoints" / "best").is_dir():
        sys.exit(f"bench_panel_ceiling: {qs / 'checkpoints' / 'best'} not found; run `editor-rl quickstart` first")
    config = load_config(args.config, overrides=args.set)
    songs = load_corpus(list_songs(args.songs or qs / "heldout"), store=FeatureStore(qs / "features"), config=config)
    songs = dict(list(songs.items())[: config.eval.max_songs])
    jobs = [(a, t) for a in songs.values() for t in config.eval.targets(a.duration_s)]
    module = load_policy(qs / "checkpoints" / "best")
    summary = qs / "quickstart.json"
    scorer = load_scorer(args.reward or (json.loads(summary.read_text())["reward"] if summary.is_file() else qs / "reward" / "reward.pt"))
    rollouts = [(a, t, 0.0, 0) for a, t in jobs] + [(a, t, 1.0, 1 + k) for a, t in jobs for k in range(args.samples)]
    edits = policy_edits(module, rollouts, config=config)
    tastes = list(PANEL) if args.tastes == "all" else args.tastes.split(",") if args.tastes else list(config.rater.judge_tastes)
    raters = [SimulatedRater(t, seed=0) for t in tastes]
    criteria = [(r, b) for r in raters for b in BASELINES]
    names = [f"{r.taste.name} vs {b}" for r, b in criteria]
    policy_rows, alone_rows, maximin_rows, picked = [], [], [], Counter()
    favourite_rows: dict[str, list] = {"today's best of N": [], "all candidates": []}
    fav_picked = Counter()
    for k, (a, t) in enumerate(jobs):
        mine = [edits[k]] + edits[len(jobs) + k * args.samples : len(jobs) + (k + 1) * args.samples]
        kinds = candidates(a, t, mine, sections=args.sections, config=config)
        flat = [(kind, p) for kind, plans in kinds.items() for p in plans]
        u = {r.taste.name: np.array([r.utility(a, p, target_seconds=t) for _, p in flat]) for r in raters}
        base = {b: kinds[b][0] for b in BASELINES}
        ub = {(r.taste.name, b): r.utility(a, base[b], target_seconds=t) for r in raters for b in BASELINES}
        e = np.array([[r.expected(x, ub[(r.taste.name, b)]) for x in u[r.taste.name]] for r, b in criteria])  # (criteria, candidates)
        policy_rows.append([r.expected(r.utility(a, mine[0], target_seconds=t), ub[(r.taste.name, b)]) for r, b in criteria])
        alone_rows.append(e.max(axis=1))
        members = scorer.score_members([edit_sequence(a, p, target_seconds=t) for _, p in flat])
        value = members.mean(axis=1) - config.pick.uncertainty_penalty * members.std(axis=1)
        today = np.array([kind in ("policy", "search", "section searches") for kind, _ in flat])
        favourite_rows["today's best of N"].append(e[:, int(np.argmax(np.where(today, value, -np.inf)))])
        fav = int(np.argmax(value))
        favourite_rows["all candidates"].append(e[:, fav])
        fav_picked[flat[fav][0]] += 1
        best = int(np.argmax(e.min(axis=0)))
        maximin_rows.append(e[:, best])
        picked[flat[best][0]] += 1
        print(f"job {k + 1}/{len(jobs)}: {a.song_id} at {t:.1f} s — {len(flat)} candidates; maximin picks {flat[best][0]} "
              f"(worst criterion {e[:, best].min():.2f})", file=sys.stderr, flush=True)
    table = {"criteria": names, "jobs": len(jobs), "policy_greedy": np.mean(policy_rows, axis=0).tolist(),
             "best_for_criterion_alone": np.mean(alone_rows, axis=0).tolist(), "maximin_oracle": np.mean(maximin_rows, axis=0).tolist(),
             "reward_favourite_today": np.mean(favourite_rows["today's best of N"], axis=0).tolist(),
             "reward_favourite_all": np.mean(favourite_rows["all candidates"], axis=0).tolist(),
             "maximin_picks": dict(picked), "reward_favourite_picks": dict(fav_picked), "goals": {"search": 0.55, "plain_cut": 0.8}, "quickstart": str(qs), "overrides": args.set}
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"panel_ceiling{args.suffix}.json").write_text(json.dumps(table, indent=1))
    print(f"{len(jobs)} held-out jobs ({len(songs)} songs of {args.songs or qs / 'heldout'}); expected win rates\n")
    print("| criterion | goal | policy (greedy) | reward model's favourite: today's best of N | …: all candidates "
          "| maximin oracle (one edit for all criteria) | best candidate, this criterion alone |\n|---|---|---|---|---|---|---|")
    for i, n in enumerate(names):
        goal = table["goals"][criteria[i][1]]
        print(f"| {n} | ≥ {goal} | {table['policy_greedy'][i]:.3f} | {table['reward_favourite_today'][i]:.3f} | {table['reward_favourite_all'][i]:.3f} "
              f"| {table['maximin_oracle'][i]:.3f} | {table['best_for_criterion_alone'][i]:.3f} |")
    print(f"\nmaximin oracle's picks: {dict(picked)}; the reward model's (all candidates): {dict(fav_picked)}")
    plot(table, out / f"panel_ceiling{args.suffix}.png")


def plot(table: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(table["criteria"])
    x = np.arange(n)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * n + 2), 4.2))
    bars = (("policy_greedy", "policy"), ("reward_favourite_all", "reward model's favourite (all candidates)"),
            ("maximin_oracle", "maximin oracle (one edit for all)"), ("best_for_criterion_alone", "best edit for this criterion alone"))
    for k, (key, label) in enumerate(bars):
        ax.bar(x + (k - 1.5) * 0.2, table[key], 0.2, label=label)
    for i, c in enumerate(table["criteria"]):
        goal = table["goals"][c.split(" vs ")[1]]
        ax.plot([i - 0.42, i + 0.42], [goal, goal], "k:", lw=1.5)
    ax.set_xticks(x)
    ax.set_xticklabels([c.replace(" vs ", "\nvs ") for c in table["criteria"]], fontsize=7, rotation=45, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("expected win rate (goal dotted)")
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
