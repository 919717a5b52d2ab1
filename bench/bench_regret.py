"""Regret: how often a listener's favourite among everything the system can make beats what the
service serves that listener — before any of its judgements, and after each cycle of them.

For each listener (``--tastes``: every panel taste and the truth tastes by default), judging what it
hears (synthetic songs by their truth files), on the session's Ray and real Serve over HTTP:

1. the service starts on a fresh data folder with the quickstart's policy and final reward model as
   ``v001``, candidates made from the quickstart's training songs;
2. ``--cycles`` times: the listener, with a rater token of its own, judges ``--labels`` pairs through
   ``/api/feedback/samples`` / ``/api/feedback/submit`` (the pending version's verification pairs
   mixed in, judged like any pair: by what it hears); ``editor-rl cycle`` makes the next version
   (verified on the quickstart's validation songs) and the listener judges until the service has
   settled its verification round (promoted or retired), at most ``--verify-labels`` more;
3. at every stage, on the quickstart's held-out songs at ``eval``'s targets (none of them judged by
   anyone), with the listener's *expected* judgements (½ within its tie margin, else σ(Δu / noise)):

   - **regret of the served edit**: the share of jobs where the listener's favourite among
     everything the system can make beats what ``/api/edit`` serves (best of N of the served
     version, the service's seeds) — a win, not a tie; the favourite is taken over the *universe*
     of the job: every window, every one-cut edit, the baselines, 16 section searches, the
     quickstart policy's greedy edit and 8 samples, and the edits being judged;
   - **regret of the policy alone** (its greedy edit: one rollout);
   - **new vs old served**: the served edit after the cycle against the one before it (ties half);
     beside it the cycle's *candidate* version's served edit against its parent's, whether or not
     its listener promoted it, and the verdict;
   - **policy alone vs served** (ties half), and before any labels the served edit's regret without
     the conservative pick (``pick.uncertainty_penalty=0``).

Writes ``bench/results/regret{suffix}.{json,png}`` and prints Markdown tables.

    .venv/bin/editor-rl quickstart            # once: runs/quickstart
    .venv/bin/python bench/bench_regret.py [--quickstart runs/quickstart] [--tastes all] [--labels 100] [--cycles 2]

Real recordings: ``--songs`` (the service's), ``--validation`` (verification) and ``--heldout``
(evaluation) folders of recordings, heard through madmom's reference bar lines cached under
``--references`` (every song the listener judges must be there: ``python bench/reference_trackers.py
FILES`` fills the cache), judged at ``--set eval.target_seconds=[30,60]`` by the panel's tastes (the
truth tastes need true sections):

    .venv/bin/python bench/bench_regret.py --songs S --validation V --heldout H --references .cache/madmom \
        --tastes balanced,keeps_ending,energy_arc,bar_lines --set eval.target_seconds=[30,60] --suffix _real
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shutil
import socket
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

import requests

from editor_rl.editors.baselines import baseline_edit, one_cut_edits, section_search_edit, window_edits
from editor_rl.editors.best_of import best_picks, job_seed
from editor_rl.apps.cli import main as cli
from editor_rl.config import load_config
from editor_rl.corpus.store import FeatureStore, list_songs, load_corpus
from editor_rl.edit.plan import EditPlan
from editor_rl.policy.rollouts import policy_edits
from editor_rl.raters.rater import SimulatedRater
from editor_rl.raters.tastes import PANEL, TRUTH_TASTES
from editor_rl.rewards.model import load_scorer
from editor_rl.policy.load import load_policy
from editor_rl.rlhf.cycle import run_cycle
from editor_rl.rlhf.registry import ModelRegistry

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
    """The rater judges up to ``n`` pairs the service offers it (by what it hears); returns how many it judged."""
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


def distinct_names(folder: Path, out: Path) -> Path:
    """The quickstart's validation songs linked under names of their own (``validation_song_000.wav``
    and its truth file): the service's songs are ``song_000`` … too, and a song id names one song."""
    out.mkdir(parents=True, exist_ok=True)
    for f in folder.iterdir():
        link = out / f"validation_{f.name}"
        if f.is_file() and not link.exists():
            link.symlink_to(f.resolve())
    return out


def hear_all(songs: dict, references) -> None:
    """Every song a listener judges must be heard through its truth or its reference annotations.

    Raises
    ------
    SystemExit
        A song with neither (the listener would hear the analysis the model learns from).
    """
    from editor_rl.raters.tastes import song_view

    deaf = [i for i, a in songs.items() if song_view(a, references=references).source == "analysis"]
    if deaf:
        sys.exit(f"bench_regret: no truth file and no cached reference annotations for {', '.join(deaf[:5])} (--references)")


def universe(jobs, module, config) -> list[list]:
    """Every job's edits the system can make (see the module docstring)."""
    rollouts = [(a, t, 0.0, 0) for a, t, _ in jobs] + [(a, t, 1.0, 1 + k) for a, t, _ in jobs for k in range(8)]
    edits = policy_edits(module, rollouts, config=config)
    out = []
    for j, (a, t, _) in enumerate(jobs):
        rng = np.random.default_rng(j)
        plans = [edits[j]] + edits[len(jobs) + 8 * j : len(jobs) + 8 * (j + 1)]
        plans += [baseline_edit(n, a, target_seconds=t, config=config) for n in ("search", "plain_cut", "every_other_phrase")]
        plans += [section_search_edit(a, target_seconds=t, config=config, rng=rng) for _ in range(16)]
        plans += window_edits(a, target_seconds=t) + one_cut_edits(a, target_seconds=t)
        out.append(plans)
    return out


class Judge:
    """A listener's expected judgements of a set of jobs, with each job's favourite over its universe."""

    def __init__(self, taste: str, jobs, worlds, references=None) -> None:
        self.rater = SimulatedRater(taste, seed=707, references=references)
        self.jobs = jobs
        self._u: dict[tuple, float] = {}  # (job, plan): the favourite, regrets and ceilings ask for the same edits again
        self.best = [max(self.u(j, p) for p in plans) for j, plans in enumerate(worlds)]

    def u(self, j: int, plan) -> float:
        """The listener's utility of ``plan`` for job ``j`` (computed once)."""
        if (j, plan) not in self._u:
            a, t, _ = self.jobs[j]
            self._u[j, plan] = self.rater.utility(a, plan, target_seconds=t)
        return self._u[j, plan]

    def regret(self, plans) -> float:
        """Share of jobs where the favourite beats ``plans`` (a win: beyond the tie margin; expected)."""
        return float(np.mean(self.regrets(plans)))

    def regrets(self, plans) -> np.ndarray:
        """Per job, the expected chance that the favourite beats its plan (0 within the tie margin)."""
        return np.array([self.regret_of(j, p) for j, p in enumerate(plans)])

    def regret_of(self, j: int, plan) -> float:
        """The expected chance that job ``j``'s favourite beats ``plan`` (0 within the tie margin)."""
        t = self.rater.taste
        u = self.u(j, plan)
        d = max(self.best[j], u) - u
        return 0.0 if d < t.tie_margin else float(1 / (1 + np.exp(-d / t.noise)))

    def versus(self, new, old) -> float:
        """Expected share of jobs ``new`` is preferred to ``old`` (ties half)."""
        return float(np.mean([self.rater.expected(self.u(j, p), self.u(j, q)) for j, (p, q) in enumerate(zip(new, old))]))


def trivial(judge: Judge, jobs, config) -> dict[str, float]:
    """The trivial editors' regret for this listener: the plain cut with a fade-out and the search."""
    return {f"regret_{name}": judge.regret([baseline_edit(name, a, target_seconds=t, config=config) for a, t, _ in jobs]) for name in ("plain_cut", "search")}


def edits_of(version, jobs, config, *, penalty: float | None = None) -> tuple[list, list]:
    """(served edits, the policy's greedy edits) of a registry version on ``jobs``."""
    cfg = config if penalty is None else replace(config, pick=replace(config.pick, uncertainty_penalty=penalty))
    module = load_policy(version.policy)
    served = [p.plan for p in best_picks(module, jobs, scorer=load_scorer(version.reward), config=cfg)]
    greedy = policy_edits(module, [(a, t, 0.0, 0) for a, t, _ in jobs], config=config)
    return served, greedy


def settle_by_judging(url, token, rater, songs, registry, name, limit) -> tuple[str, int]:
    """The listener judges until version ``name``'s round is settled (at most ``limit`` judgements)."""
    done = 0
    while (registry.verdict(name) or {}).get("status") == "pending" and done < limit:
        n = judge_over_http(url, token, rater, songs, 10)
        if not n:
            break
        done += n
    return (registry.verdict(name) or {}).get("status", "none"), done


def one_listener(taste: str, *, qs: dict, work: Path, args, config, jobs, worlds, say) -> list[dict]:
    """Start the service, measure, run the cycles with the listener over HTTP, measure after each."""
    from ray import serve

    from editor_rl.serving.deployments import ServeSettings
    from editor_rl.serving.run import start

    data = work / taste
    port = free_port()
    settings = ServeSettings(checkpoint=qs["best"], data_dir=str(data), songs_dir=qs["songs"], reward=qs["reward"], config=config)
    start(settings, port=port, per_song=3, temperatures=(0.5, 1.0), log=lambda m: say(f"  {m}"))
    url = f"http://127.0.0.1:{port}"
    store = FeatureStore(data / "features")
    songs = load_corpus(list_songs(qs["songs"]), store=store, config=config) | load_corpus(list_songs(qs["validation"]), store=store, config=config)
    hear_all(songs, args.references)
    token = rater_token(data, f"{taste}-listener")
    rater = SimulatedRater(taste, seed=101, rater_id=f"{taste}-listener", references=args.references)
    judge = Judge(taste, jobs, worlds, args.references)
    registry = ModelRegistry(data)
    v1 = registry.get("v001")
    served, greedy = edits_of(v1, jobs, config)
    bold, _ = edits_of(v1, jobs, config, penalty=0.0)
    rows = [{"taste": taste, "stage": 0, "version": "v001", "regret_served": judge.regret(served), "regret_policy": judge.regret(greedy),
             "regret_served_no_penalty": judge.regret(bold), "policy_vs_served": judge.versus(greedy, served)} | trivial(judge, jobs, config)]
    say(f"{taste}: before any labels: regret served {rows[0]['regret_served']:.2f} (without the conservative pick "
        f"{rows[0]['regret_served_no_penalty']:.2f}), policy alone {rows[0]['regret_policy']:.2f}")
    served_name = "v001"
    try:
        for k in range(1, args.cycles + 1):
            t0 = time.time()
            n = judge_over_http(url, token, rater, songs, args.labels)
            result = run_cycle(data, songs_dir=qs["songs"], heldout_dir=qs["validation"], min_labels=min(n, 30), config=config, log=lambda m: say(f"  {m}"))
            cycle_s = time.time() - t0
            name = result.get("version") or result.get("pending")
            status, verify_n = settle_by_judging(url, token, rater, songs, registry, name, args.verify_labels)
            verdict = registry.verdict(name) or {}
            cand = registry.get(name)
            cand_served, cand_greedy = edits_of(cand, jobs, config)
            now_name = registry.current_name()
            if now_name == name:
                now_served, now_greedy = cand_served, cand_greedy
            elif now_name != served_name:  # an earlier cycle's version, promoted while this cycle's labels came in
                now_served, now_greedy = edits_of(registry.get(now_name), jobs, config)
            else:
                now_served, now_greedy = served, greedy
            rows.append({"taste": taste, "stage": k, "version": now_name, "candidate": name, "verdict": status, "labels": n, "verify_labels": verify_n,
                         "verify_judgements": verdict.get("judgements"), "verify_win_rate": verdict.get("win_rate"),
                         "candidate_vs_parent": judge.versus(cand_served, served), "candidate_policy_vs_served": judge.versus(cand_greedy, cand_served),
                         "new_vs_old_served": judge.versus(now_served, served), "regret_served": judge.regret(now_served),
                         "regret_policy": judge.regret(now_greedy), "policy_vs_served": judge.versus(now_greedy, now_served),
                         "agreement_before": result.get("reward", {}).get("agreement_before"), "agreement_after": result.get("reward", {}).get("agreement_after"),
                         "cycle_s": round(cycle_s, 1)})
            r = rows[-1]
            say(f"{taste} cycle {k}: {name} {status} ({verify_n} verification labels, win rate {r['verify_win_rate']}); candidate vs parent "
                f"{r['candidate_vs_parent']:.2f}; served now {now_name}: regret {r['regret_served']:.2f}, policy alone {r['regret_policy']:.2f}, "
                f"policy vs served {r['policy_vs_served']:.2f}")
            served, greedy, served_name = now_served, now_greedy, now_name
    finally:
        serve.shutdown()
        for bulky in ("candidates", "renders", "uploads"):  # rendered audio: ~3 GB a listener, measured already
            shutil.rmtree(data / bulky, ignore_errors=True)
    return rows


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tastes = list(dict.fromkeys(r["taste"] for r in rows))
    fig, ax = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    colours = plt.get_cmap("tab20")
    for k, t in enumerate(tastes):
        mine = [r for r in rows if r["taste"] == t]
        line, = ax[0].plot([r["stage"] for r in mine], [r["regret_served"] for r in mine], "o-", label=t, c=colours(k % 20))
        ax[1].plot([r["stage"] for r in mine], [r["regret_policy"] for r in mine], "x--", c=line.get_color(), label=t)
    for a, title in zip(ax, ("served edit (best of N)", "policy alone (greedy)")):
        a.set_xlabel("cycles of the listener's judgements")
        a.set_title(f"regret: the listener's favourite beats the {title}", fontsize=9)
        a.set_xticks(sorted({r["stage"] for r in rows}))
        a.set_ylim(0, 1)
    ax[0].set_ylabel("share of held-out jobs")
    ax[1].legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def table(rows: list[dict]) -> str:
    out = ["| listener | stage | served | verdict (verification labels, win rate) | candidate vs parent | new vs old served | regret: served | "
           "regret: policy alone | policy alone vs served |", "|---|---|---|---|---|---|---|---|---|"]
    f = lambda x: "—" if x is None else f"{x:.2f}"  # noqa: E731
    for r in rows:
        v = "—" if r["stage"] == 0 else f"{r['candidate']} {r['verdict']} ({r['verify_labels']}, {f(r['verify_win_rate'])})"
        out.append(f"| {r['taste']} | {r['stage']} | {r['version']} | {v} | {f(r.get('candidate_vs_parent'))} | {f(r.get('new_vs_old_served'))} | "
                   f"{r['regret_served']:.2f}" + (f" (no penalty {r['regret_served_no_penalty']:.2f})" if r["stage"] == 0 else "") +
                   (f"; plain cut {r['regret_plain_cut']:.2f}, search {r['regret_search']:.2f}" if "regret_plain_cut" in r else "") +
                   f" | {r['regret_policy']:.2f} | {r['policy_vs_served']:.2f} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quickstart", default=str(ROOT / "runs" / "quickstart"), help="a finished quickstart's work folder")
    ap.add_argument("--tastes", default="all", help="comma-separated, or 'all' (the panel and the truth tastes)")
    ap.add_argument("--songs", default="", help="the service's songs (default: the quickstart's training songs)")
    ap.add_argument("--validation", default="", help="songs that verify each version (default: the quickstart's validation songs, renamed)")
    ap.add_argument("--heldout", default="", help="songs the regret is measured on (default: the quickstart's held-out songs)")
    ap.add_argument("--references", default=None, help="cached reference annotations of recordings (e.g. .cache/madmom)")
    ap.add_argument("--labels", type=int, default=100, help="judgements per cycle")
    ap.add_argument("--verify-labels", type=int, default=100, help="at most this many more judgements to settle a verification round")
    ap.add_argument("--cycles", type=int, default=2)
    ap.add_argument("--trivial", action="store_true", help="only the trivial editors' regret per listener (no service, no cycles)")
    ap.add_argument("--work", default=str(ROOT / "bench" / "results" / "regret_work"))
    ap.add_argument("--suffix", default="")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config overrides for the service and the cycles")
    args = ap.parse_args()
    say = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    qs_dir = Path(args.quickstart)
    if not (qs_dir / "quickstart.json").is_file():
        sys.exit(f"bench_regret: {qs_dir / 'quickstart.json'} not found; run `editor-rl quickstart` first")
    qs = json.loads((qs_dir / "quickstart.json").read_text())
    config = load_config(overrides=["run.num_cpus=2"] + args.set)
    tastes = list(PANEL) + list(TRUTH_TASTES) if args.tastes == "all" else args.tastes.split(",")
    work = Path(args.work)
    if work.exists() and not args.trivial:
        sys.exit(f"bench_regret: {work} exists; remove it or pass another --work")
    t0 = time.time()
    qs["songs"] = args.songs or qs["songs"]
    qs["heldout"] = args.heldout or qs["heldout"]
    qs["validation"] = args.validation or str(distinct_names(qs_dir / "validation", work.with_name(work.name + "_validation")))
    heldout = load_corpus(list_songs(qs["heldout"]), store=FeatureStore(qs_dir / "features"), config=config)
    hear_all(heldout, args.references)
    jobs = [(a, t, job_seed(a, t)) for a in heldout.values() for t in config.eval.targets(a.duration_s)]
    worlds = universe(jobs, load_policy(qs["best"]), config)
    say(f"{len(jobs)} held-out jobs, {sum(map(len, worlds))} edits in their universes ({time.time() - t0:.0f} s)")
    if args.trivial:
        print("| listener | regret: plain cut | regret: search |\n|---|---|---|")
        for t in tastes:
            r = trivial(Judge(t, jobs, worlds, args.references), jobs, config)
            print(f"| {t} | {r['regret_plain_cut']:.2f} | {r['regret_search']:.2f} |")
        return
    rows = []
    for t in tastes:
        rows += one_listener(t, qs=qs, work=work, args=args, config=config, jobs=jobs, worlds=worlds, say=say)
        out = ROOT / "bench" / "results"
        out.mkdir(parents=True, exist_ok=True)
        (out / f"regret{args.suffix}.json").write_text(json.dumps({"rows": rows, "overrides": args.set, "labels": args.labels, "jobs": len(jobs),
                                                                   "seconds": round(time.time() - t0, 1)}, indent=1))
    plot(rows, out / f"regret{args.suffix}.png")
    print(table(rows))
    print(f"\ntotal {time.time() - t0:.0f} s; {out / f'regret{args.suffix}.png'}")


if __name__ == "__main__":
    main()
