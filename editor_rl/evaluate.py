"""``editor-rl evaluate``: how good is a trained policy? A report in Markdown, JSON and PNG.

For every song in ``--songs`` and targets of 40, 60 and 80 % of its length, the policy
(temperature 0) and each baseline (random, every other phrase, search) make an edit. The report
gives, per method: keep ratio (share of source beats played), duration error against the target,
each dense component, and the learned reward (when ``rl.reward_checkpoint`` is set); and the
policy's win rates against each baseline as judged by the reward model and by a simulated rater
that labelled none of the training pairs (a tie counts half). If the checkpoint sits in a training
run, its ``history.json`` becomes a 4-panel plot of the training curves (return, learned score,
dense return, policy and value loss).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from editor_rl.config import Config
from editor_rl.corpus import FeatureStore, list_songs, load_corpus
from editor_rl.edit.baselines import baseline_edit
from editor_rl.preferences.rater import SimulatedRater
from editor_rl.rewards import dense
from editor_rl.rewards.sequence import edit_sequence, order_of

TARGET_RATIOS = (0.4, 0.6, 0.8)
BASELINE_NAMES = ("random", "every_other_phrase", "search")


def _training_curves(history: list[dict], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    it = [r["iteration"] for r in history]
    fig, axes = plt.subplots(2, 2, figsize=(10, 6))
    total = "total_return_mean" if any(r.get("total_return_mean") is not None for r in history) else "return_mean"
    panels = [(total, "total reward (what PPO optimises)"), ("learned_score_mean", "learned reward (raw score)"),
              ("dense_return_mean", "dense return"), (("policy_loss", "vf_loss"), "losses")]
    for ax, (key, title) in zip(axes.ravel(), panels):
        for k in key if isinstance(key, tuple) else (key,):
            ys = [r.get(k) for r in history]
            if any(y is not None for y in ys):
                ax.plot(it, [np.nan if y is None else y for y in ys], label=k)
        ax.set_title(title)
        ax.set_xlabel("iteration")
        if isinstance(key, tuple):
            ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def evaluate(checkpoint: str | Path, *, songs_dir: str | Path, out_dir: str | Path, config: Config = Config(), seed: int = 0) -> dict:
    """Evaluate the policy at ``checkpoint`` on the songs in ``songs_dir``; returns the report dict."""
    from editor_rl.rl.policy import load_policy, policy_edit

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    module = load_policy(checkpoint)
    analyses = load_corpus(list_songs(songs_dir), store=FeatureStore(config.corpus.store_dir), config=config)
    scorer = None
    if config.rl.reward_checkpoint:
        from editor_rl.rewards.model import load_scorer

        scorer = load_scorer(config.rl.reward_checkpoint)
    rater = SimulatedRater(replace(config.rater, seed=config.rater.seed + 7919), rater_id="sim-eval")
    methods = ("policy",) + BASELINE_NAMES
    rows: dict[str, list[dict]] = {m: [] for m in methods}
    wins_rm = {b: [] for b in BASELINE_NAMES}
    wins_rater = {b: [] for b in BASELINE_NAMES}
    for a in analyses.values():
        t = dense.song_tables(a)
        for ratio in TARGET_RATIOS:
            target = ratio * a.duration_s
            plans = {"policy": policy_edit(module, a, target_seconds=target, config=config, temperature=0.0, seed=seed)}
            for b in BASELINE_NAMES:
                plans[b] = baseline_edit(b, a, target_seconds=target, config=config, seed=seed)
            learned = dict(zip(methods, scorer.score([edit_sequence(a, plans[m], target_seconds=target, tables=t) for m in methods])[0])) if scorer else {}
            for m in methods:
                p = plans[m]
                order = order_of(a, p)
                c = dense.components(t, order, out_seconds=p.duration_s, target_seconds=target)
                rows[m].append({"song": a.song_id, "target_s": target, "keep_ratio": len(set(order)) / a.n_beats, "duration_error": (p.duration_s - target) / target,
                                "dense_total": dense.total(c, config.reward), **c._asdict(), "learned": float(learned[m]) if learned else None, "seams": p.n_seams})
            for b in BASELINE_NAMES:
                if learned:
                    d = learned["policy"] - learned[b]
                    wins_rm[b].append(1.0 if d > 1e-6 else 0.5 if abs(d) <= 1e-6 else 0.0)
                j = rater.judge(a, plans["policy"], plans[b], target_seconds=target)
                wins_rater[b].append({"a": 1.0, "tie": 0.5, "b": 0.0}[j.preference])
    summary = {m: {k: float(np.mean([r[k] for r in rows[m]])) for k in ("keep_ratio", "dense_total", "tempo", "energy", "phrase", "transition", "duration", "seams")} for m in methods}
    for m in methods:
        summary[m]["abs_duration_error"] = float(np.mean([abs(r["duration_error"]) for r in rows[m]]))
        summary[m]["learned"] = float(np.mean([r["learned"] for r in rows[m]])) if scorer else None
    report = {
        "checkpoint": str(checkpoint), "songs": sorted(analyses), "targets": list(TARGET_RATIOS), "edits_per_method": len(rows["policy"]),
        "summary": summary,
        "win_rate_vs": {b: {"reward_model": float(np.mean(wins_rm[b])) if wins_rm[b] else None, "simulated_rater": float(np.mean(wins_rater[b]))} for b in BASELINE_NAMES},
        "rows": rows,
    }
    (out / "report.json").write_text(json.dumps(report, indent=1))
    _plots(report, out)
    history = Path(checkpoint).resolve().parent.parent / "history.json"
    if history.is_file():
        report["training_curves"] = str(_training_curves(json.loads(history.read_text()), out / "training_curves.png"))
    (out / "report.md").write_text(_markdown(report))
    return report


def _plots(report: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(report["win_rate_vs"])
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(6, 3.5))
    rm = [report["win_rate_vs"][n]["reward_model"] or 0 for n in names]
    sr = [report["win_rate_vs"][n]["simulated_rater"] for n in names]
    ax.bar(x - 0.2, rm, 0.4, label="reward model")
    ax.bar(x + 0.2, sr, 0.4, label="simulated rater (held out)")
    ax.axhline(0.5, c="gray", ls=":")
    ax.set_xticks(x, names)
    ax.set_ylim(0, 1)
    ax.set_ylabel("policy win rate")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "win_rates.png", dpi=100)
    plt.close(fig)


def _markdown(report: dict) -> str:
    s = report["summary"]
    lines = [f"# Evaluation of `{report['checkpoint']}`", "", f"{len(report['songs'])} songs × targets {report['targets']} = {report['edits_per_method']} edits per method.", "",
             "| method | keep ratio | |duration error| | dense total | tempo | energy | phrase | transition | duration | learned | seams |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for m, v in s.items():
        learned = "—" if v["learned"] is None else f"{v['learned']:.3f}"
        lines.append(f"| {m} | {v['keep_ratio']:.3f} | {v['abs_duration_error']:.3f} | {v['dense_total']:.3f} | {v['tempo']:.3f} | {v['energy']:.3f} | {v['phrase']:.3f} | {v['transition']:.3f} | {v['duration']:.3f} | {learned} | {v['seams']:.1f} |")
    lines += ["", "| policy vs | win rate (reward model) | win rate (held-out simulated rater) |", "|---|---|---|"]
    for b, w in report["win_rate_vs"].items():
        rm = "—" if w["reward_model"] is None else f"{w['reward_model']:.3f}"
        lines.append(f"| {b} | {rm} | {w['simulated_rater']:.3f} |")
    lines += ["", "![win rates](win_rates.png)"]
    if report.get("training_curves"):
        lines += ["", "![training curves](training_curves.png)"]
    return "\n".join(lines) + "\n"
