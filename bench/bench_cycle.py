"""RLHF cycles with raters through the HTTP API: does each cycle's version beat the one before, for
listeners whose taste the reward model was never pretrained on, and how long does a cycle take?

For each of ``--tastes`` (default: the three ``rater.judge_tastes``, none of them in the
pretraining mixture), on the session's Ray and real Serve over HTTP:

1. the service starts on a fresh data folder with the quickstart's policy (``checkpoints/best``)
   and final reward model as ``v001``, candidates made from the quickstart's training songs;
2. ``--cycles`` times: a simulated rater of the taste, with a rater token of its own
   (``editor-rl raters add``), judges ``--labels`` pairs through ``/api/feedback/samples`` and
   ``/api/feedback/submit``; then ``editor-rl cycle`` (gating on the quickstart's validation songs)
   makes the next version and the wall time is taken;
3. the new version against its parent on the quickstart's *held-out* songs at ``eval``'s targets,
   judged by another rater of the taste (a seed that labelled nothing); a tie counts half. Two
   figures: the edit each version *serves* (``/api/edit`` at temperature 0: best of N by the
   version's own reward model, the same function and seeds as the service) and its policy's own
   edit (temperature 0); beside them the *ceiling*: the expected win rate had the new version
   served the judge's own favourite among its best-of-N candidates — what a perfect reward model
   could show with those candidates (an edit within the taste's tie margin of the parent's is a
   tie, so a parent that already serves what the taste likes leaves little to win). Whether the
   gate promoted it is recorded beside.

Writes ``bench/results/cycle.{json,png}`` and prints a Markdown table.

    .venv/bin/editor-rl quickstart            # once: runs/quickstart
    .venv/bin/python bench/bench_cycle.py [--quickstart runs/quickstart] [--labels 100] [--cycles 2] \
        --set rl.env_runner_cpus=0.5 --set pool.num_cpus=0.25 --set cycle.candidates_per_song=5

On 2 cores the cycle's PPO shares Ray with the service (0.55 CPU), hence the smaller actors; five
policy candidates per song give the second round 100 pairs the rater has not judged (the
baselines' edits, content-addressed, are the same every round, and so are the pairs between them).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import socket
import sys
import time
from pathlib import Path

import numpy as np
import requests

from editor_rl.best_of import best_edits, candidate_edits, job_seed
from editor_rl.cli import main as cli
from editor_rl.config import load_config
from editor_rl.corpus import FeatureStore, list_songs, load_corpus
from editor_rl.edit.plan import EditPlan
from editor_rl.policy_edits import policy_edits
from editor_rl.preferences.rater import SimulatedRater
from editor_rl.rewards.model import load_scorer
from editor_rl.rl.policy import load_policy
from editor_rl.rlhf.cycle import run_cycle
from editor_rl.rlhf.models import ModelRegistry

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rater_token(data: Path, name: str) -> str:
    """``editor-rl raters add NAME --data DIR``: the one line it prints."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert cli(["raters", "add", name, "--data", str(data)]) == 0
    return buf.getvalue().strip()


def judge_over_http(url: str, token: str, rater: SimulatedRater, songs: dict, n: int) -> int:
    """The rater judges up to ``n`` pairs the service offers it; returns how many it judged."""
    done = 0
    while done < n:
        batch = requests.get(url + "/api/feedback/samples", params={"rater_id": rater.rater_id, "n": 10}, timeout=60).json()
        if not batch:
            break
        for s in batch[: n - done]:
            a = songs[s["song_id"]]
            j = rater.judge(a, *(EditPlan.from_edl(s[k]["edl"], source_duration_s=a.duration_s) for k in ("a", "b")), target_seconds=s["target_seconds"])
            r = requests.post(url + "/api/feedback/submit", headers={"Authorization": f"Bearer {token}"}, timeout=60,
                              json={"pair_id": s["pair_id"], "preference": j.preference, "strength": j.strength})
            r.raise_for_status()
            done += 1
    return done


def win_rates(new, old, heldout: dict, judge: SimulatedRater, config) -> dict[str, float]:
    """Share of held-out jobs where ``judge`` prefers the ``new`` version's edit to the ``old`` one's:
    ``served`` — what ``/api/edit`` answers (best of N by the version's own reward model, the service's
    seeds), ``policy`` — the policy's own edit at temperature 0, and ``ceiling`` — the expected win rate
    had the new version served the judge's own favourite among its best-of-N candidates (the most any
    reward model could show with those candidates)."""
    jobs = [(a, t, job_seed(a, t)) for a in heldout.values() for t in config.eval.targets(a.duration_s)]
    modules = [load_policy(v.policy) for v in (new, old)]
    served = [best_edits(m, jobs, scorer=load_scorer(v.reward), config=config) for m, v in zip(modules, (new, old))]
    greedy = [policy_edits(m, [(a, t, 0.0, 0) for a, t, _ in jobs], config=config) for m in modules]
    rates = {k: float(np.mean([judge.judge(a, p, q, target_seconds=t).for_a for (a, t, _), p, q in zip(jobs, *plans)]))
             for k, plans in (("served", served), ("policy", greedy))}
    cands = candidate_edits(modules[0], jobs, config=config)
    rates["ceiling"] = float(np.mean([judge.expected(max(judge.utility(a, p.plan, target_seconds=t) for p in plans), judge.utility(a, q, target_seconds=t))
                                      for (a, t, _), plans, q in zip(jobs, cands, served[1])]))
    return rates


def one_taste(taste: str, *, qs: dict, work: Path, args, config, say) -> list[dict]:
    """Start the service on a fresh folder, run the cycles, judge each version against its parent."""
    from ray import serve

    from editor_rl.serving.deployments import ServeSettings
    from editor_rl.serving.run import start

    data = work / taste
    port = free_port()
    settings = ServeSettings(checkpoint=qs["best"], data_dir=str(data), songs_dir=qs["songs"], reward=qs["reward"], config=config)
    t0 = time.time()
    start(settings, port=port, per_song=3, temperatures=(0.5, 1.0), log=lambda m: say(f"  {m}"))
    say(f"{taste}: service up in {time.time() - t0:.0f} s")
    url = f"http://127.0.0.1:{port}"
    store = FeatureStore(data / "features")
    songs = load_corpus(list_songs(qs["songs"]), store=store, config=config)
    heldout = load_corpus(list_songs(qs["heldout"]), store=store, config=config)
    token = rater_token(data, f"{taste}-listener")
    rater = SimulatedRater(taste, seed=101, rater_id=f"{taste}-listener")
    judge = SimulatedRater(taste, seed=707)
    registry, rows = ModelRegistry(data), []
    try:
        for k in range(1, args.cycles + 1):
            t0 = time.time()
            n = judge_over_http(url, token, rater, songs, args.labels)
            judging = time.time() - t0
            t0 = time.time()
            result = run_cycle(data, songs_dir=qs["songs"], heldout_dir=qs["validation"], min_labels=min(n, args.labels), config=config,
                               log=lambda m: say(f"  {m}"))
            seconds = time.time() - t0
            new, parent = registry.get(result["version"]), registry.get(result["parent"])
            w = win_rates(new, parent, heldout, judge, config)
            rows.append({"taste": taste, "cycle": k, "labels": n, "version": new.name, "parent": parent.name, "promoted": bool(result["gate"]["passed"]),
                         "win_rate_vs_parent": w["served"], "policy_win_rate_vs_parent": w["policy"], "ceiling_vs_parent": w["ceiling"], "agreement_before": result["reward"]["agreement_before"],
                         "agreement_after": result["reward"]["agreement_after"], "judging_s": round(judging, 1),
                         "cycle_s": round(seconds, 1)})
            say(f"{taste} cycle {k}: {n} labels over HTTP in {judging:.0f} s; cycle {seconds:.0f} s; {new.name} "
                f"{'promoted' if rows[-1]['promoted'] else 'kept, not promoted'}; preferred to {parent.name} in {w['served']:.2f} of held-out pairs (policy alone {w['policy']:.2f}; ceiling {w['ceiling']:.2f})")
    finally:
        serve.shutdown()
    return rows


def _fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}"


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tastes = sorted({r["taste"] for r in rows})
    fig, ax = plt.subplots(figsize=(7.5, 4))
    for t in tastes:
        mine = [r for r in rows if r["taste"] == t]
        line, = ax.plot([r["cycle"] for r in mine], [r["win_rate_vs_parent"] for r in mine], "o-", label=f"{t}: served edit")
        ax.plot([r["cycle"] for r in mine], [r["policy_win_rate_vs_parent"] for r in mine], "x--", c=line.get_color(), alpha=0.6, label=f"{t}: policy alone")
        ax.plot([r["cycle"] for r in mine], [r["ceiling_vs_parent"] for r in mine], "^:", c=line.get_color(), alpha=0.6, label=f"{t}: ceiling")
    ax.axhline(0.75, c="gray", ls=":", label="goal after cycle 1")
    ax.axhline(0.5, c="lightgray", ls="-")
    ax.set_xticks(sorted({r["cycle"] for r in rows}))
    ax.set_xlabel("cycle")
    ax.set_ylabel("new version preferred to its parent")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quickstart", default=str(ROOT / "runs" / "quickstart"), help="a finished quickstart's work folder")
    ap.add_argument("--tastes", default="", help="comma-separated (default: rater.judge_tastes)")
    ap.add_argument("--labels", type=int, default=100, help="judgements per cycle")
    ap.add_argument("--cycles", type=int, default=2)
    ap.add_argument("--work", default=str(ROOT / "bench" / "results" / "cycle_work"))
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config overrides for the service and the cycles")
    args = ap.parse_args()
    say = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    qs_dir = Path(args.quickstart)
    if not (qs_dir / "quickstart.json").is_file():
        sys.exit(f"bench_cycle: {qs_dir / 'quickstart.json'} not found; run `editor-rl quickstart` first")
    qs = json.loads((qs_dir / "quickstart.json").read_text())
    qs["validation"] = str(qs_dir / "validation")
    config = load_config(overrides=["run.num_cpus=2"] + args.set)
    tastes = args.tastes.split(",") if args.tastes else list(config.rater.judge_tastes)
    work = Path(args.work)
    if work.exists():
        sys.exit(f"bench_cycle: {work} exists; remove it or pass another --work")
    t0 = time.time()
    rows = [r for t in tastes for r in one_taste(t, qs=qs, work=work, args=args, config=config, say=say)]
    out = ROOT / "bench" / "results"
    (out / "cycle.json").write_text(json.dumps({"rows": rows, "overrides": args.set, "labels": args.labels, "seconds": round(time.time() - t0, 1)}, indent=1))
    plot(rows, out / "cycle.png")
    print("| taste | cycle | labels (HTTP) | version | promoted | served edit preferred to its parent's (held-out, same taste) | policy alone | "
          "ceiling: the taste's favourite candidate | reward agreement, held-out labels: before → after | judging s | cycle s |\n|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['taste']} | {r['cycle']} | {r['labels']} | {r['version']} ← {r['parent']} | {'yes' if r['promoted'] else 'no'} | {r['win_rate_vs_parent']:.2f} | {r['policy_win_rate_vs_parent']:.2f} | {r['ceiling_vs_parent']:.2f} "
              f"| {_fmt(r['agreement_before'])} → {_fmt(r['agreement_after'])} | {r['judging_s']} | {r['cycle_s']} |")
    print(f"\ntotal {time.time() - t0:.0f} s; {out / 'cycle.png'}")


if __name__ == "__main__":
    main()
