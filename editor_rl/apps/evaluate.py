"""``editor-rl evaluate``: a trained policy judged on songs it never trained on, and its report.

The judging is :func:`editor_rl.raters.judging.judge_policy` (the one place a policy is compared
with the baselines); the judges are both panels, the unseen tastes named as such.

The report (Markdown, JSON, PNG) gives, per method: keep ratio, duration error, planner repairs,
each dense component and the learned reward (when ``rl.reward_checkpoint`` is set); the policy's
win rates against each baseline by the reward model and by every judge; and, if the checkpoint sits
in a training run, its training curves. For a policy trained with the mood context
(``env.mood_conditioning``), per named mood: how often its edit asked for that mood matches it — by
the truth where the songs have section moods, else as the mood model measures it — for the
checkpoint (after RL) and the behaviour-cloned start beside it in its run (before RL).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from editor_rl.audio.mood import MOOD_NAMES, named_mood
from editor_rl.corpus.store import FeatureStore, list_songs, load_corpus
from editor_rl.config import Config
from editor_rl.editors.baselines import BASELINES
from editor_rl.editors.mood import matches_measured
from editor_rl.policy.rollouts import policy_edits
from editor_rl.raters.moods import matches_mood
from editor_rl.raters.judging import heldout_judges, judge_policy, unseen_judges
from editor_rl.rewards import dense
from editor_rl.rewards.sequence import edit_sequence, order_of

BASELINE_NAMES = tuple(BASELINES)


def _training_curves(history: list[dict], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    it = [r["iteration"] for r in history]
    fig, axes = plt.subplots(2, 2, figsize=(10, 6))
    total = "total_return_mean" if any(r.get("total_return_mean") is not None for r in history) else "return_mean"
    panels = [(total, "total reward (what PPO optimises)"), (("learned_score_mean",), "learned reward (raw score)"),
              (("heldout_win_rate",), "held-out judges: policy vs search"), (("policy_loss", "vf_loss"), "losses")]
    for ax, (key, title) in zip(axes.ravel(), panels):
        for k in key if isinstance(key, tuple) else (key,):
            pts = [(r["iteration"], r.get(k)) for r in history if r.get(k) is not None]
            if pts:
                ax.plot(*zip(*pts), marker="o" if k == "heldout_win_rate" else None, label=k)
        ax.set_title(title)
        ax.set_xlabel("iteration")
        ax.set_xlim(min(it, default=0), max(it, default=1))
        if isinstance(key, tuple) and len(key) > 1:
            ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def evaluate(checkpoint: str | Path, *, songs_dir: str | Path, out_dir: str | Path, config: Config = Config(), seed: int = 0, progress: bool = False) -> dict:
    """Evaluate the policy at ``checkpoint`` on the songs in ``songs_dir``; returns the report dict.

    With ``rl.reward_checkpoint`` set, the report also has the best-of-N edits ("best_of") and every
    edit's learned score. ``progress``: a progress bar on stderr while songs are analysed.
    """
    from editor_rl.policy.load import load_policy

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    analyses = load_corpus(list_songs(songs_dir), store=FeatureStore(config.corpus.store_dir), config=config, progress=progress)
    scorer = None
    if config.rl.reward_checkpoint:
        from editor_rl.rewards.model import load_scorer

        scorer = load_scorer(config.rl.reward_checkpoint)
    unseen = unseen_judges(config)
    judges = unseen + heldout_judges(config)
    judged = judge_policy(load_policy(checkpoint), analyses, judges=judges, config=config, baselines=BASELINE_NAMES, scorer=scorer, seed=seed)
    methods = tuple(judged.plans)
    editors = tuple(m for m in methods if m not in BASELINE_NAMES)
    rows: dict[str, list[dict]] = {m: [] for m in methods}
    wins_rm: dict[str, dict[str, list[float]]] = {m: {b: [] for b in BASELINE_NAMES} for m in editors}
    for k, (a, target) in enumerate(judged.jobs):
        t = dense.song_tables(a)
        plans = {m: judged.plans[m][k] for m in methods}
        learned = dict(zip(methods, scorer.score([edit_sequence(a, plans[m], target_seconds=target) for m in methods])[0])) if scorer else {}
        for m, p in plans.items():
            order = order_of(a, p)
            c = dense.components(t, order, out_seconds=p.duration_s, target_seconds=target)
            rows[m].append({"song": a.song_id, "target_s": target, "keep_ratio": len(set(order)) / a.n_beats, "duration_error": (p.duration_s - target) / target,
                            "dense_total": dense.total(c, config.reward), **c._asdict(), "learned": float(learned[m]) if learned else None,
                            "seams": p.n_seams, "repaired": bool(p.repair)})
        for m in editors:
            for b in BASELINE_NAMES:
                if learned:
                    d = learned[m] - learned[b]
                    wins_rm[m][b].append(1.0 if d > 1e-6 else 0.5 if abs(d) <= 1e-6 else 0.0)
    summary = {m: {k: float(np.mean([r[k] for r in rows[m]])) for k in ("keep_ratio", "dense_total", "tempo", "energy", "phrase", "transition", "duration", "seams")} for m in methods}
    for m in methods:
        summary[m]["abs_duration_error"] = float(np.mean([abs(r["duration_error"]) for r in rows[m]]))
        summary[m]["repairs"] = judged.repairs(m)
        summary[m]["learned"] = float(np.mean([r["learned"] for r in rows[m]])) if scorer else None
    names = [j.rater_id for j in unseen]
    report = {
        "checkpoint": str(checkpoint), "reward": config.rl.reward_checkpoint, "songs": sorted(analyses), "targets": list(config.eval.target_seconds) or list(config.eval.target_ratios),
        "edits_per_method": len(judged.jobs), "judges": [j.rater_id for j in judges], "unseen_judges": names, "summary": summary,
        "win_rates": {m: {b: {"reward_model": float(np.mean(wins_rm[m][b])) if wins_rm[m][b] else None, "judges": judged.win_rate[m][b],
                              "mean_unseen": judged.mean_win_rate(b, names, method=m)} for b in BASELINE_NAMES} for m in editors},
        "rows": rows,
    }
    report["moods"] = mood_statistics(checkpoint, analyses, judged.jobs, config=config)
    (out / "report.json").write_text(json.dumps(report, indent=1))
    _plots(report, out)
    history = Path(checkpoint).resolve().parent.parent / "history.json"
    if history.is_file():
        report["training_curves"] = str(_training_curves(json.loads(history.read_text()), out / "training_curves.png"))
    (out / "report.md").write_text(_markdown(report))
    return report


def mood_statistics(checkpoint: str | Path, analyses: dict, jobs: list, *, config: Config) -> dict | None:
    """Per named mood and policy (before RL: ``bc`` beside the checkpoint, if there; after RL: the
    checkpoint), the share of ``jobs`` (analysis, target) whose edit asked for the mood matches it.
    None for a policy without the mood context."""
    from editor_rl.policy.env import wants_mood
    from editor_rl.policy.load import load_policy

    module = load_policy(checkpoint)
    if not wants_mood(module, config.env.window_beats):
        return None
    bc = Path(checkpoint).resolve().parent / "bc"
    policies = ({"before RL (BC)": load_policy(bc)} if bc.is_dir() and bc != Path(checkpoint).resolve() else {}) | {"after RL": module}
    truths = {a.song_id: json.loads(Path(a.path).with_suffix(".truth.json").read_text()) for a, _ in jobs if Path(a.path).with_suffix(".truth.json").is_file()}
    by_truth = all(truths.get(a.song_id, {}).get("section_moods") for a, _ in jobs)
    out: dict = {"basis": "truth" if by_truth else "measured by the mood model", "jobs_per_mood": len(jobs), "match": {}}
    for name in MOOD_NAMES:
        mood = named_mood(name)
        out["match"][name] = {}
        for label, m in policies.items():
            plans = policy_edits(m, [(a, t, 0.0, seed) for seed, (a, t) in enumerate(jobs)], config=config, moods=[mood] * len(jobs))
            hits = [matches_mood(truths[a.song_id], p, mood) if by_truth else matches_measured(a, p, mood) for (a, _), p in zip(jobs, plans)]
            out["match"][name][label] = float(np.mean(hits))
    return out


def _plots(report: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    editors = list(report["win_rates"])
    baselines = list(report["win_rates"][editors[0]])
    judges = report["judges"]
    fig, axes = plt.subplots(1, len(editors), figsize=(7 * len(editors), 3.8), squeeze=False)
    x = np.arange(len(baselines))
    width = 0.8 / (1 + len(judges))
    for ax, m in zip(axes[0], editors):
        w = report["win_rates"][m]
        ax.bar(x - 0.4 + width / 2, [w[b]["reward_model"] or 0 for b in baselines], width, label="reward model", color="lightgray")
        for k, j in enumerate(judges, start=1):
            ax.bar(x - 0.4 + width / 2 + k * width, [w[b]["judges"][j] for b in baselines], width, label=j + (" (unseen taste)" if j in report["unseen_judges"] else ""))
        ax.axhline(0.5, c="gray", ls=":")
        ax.set_xticks(x, baselines)
        ax.set_ylim(0, 1)
        ax.set_title(f"{m} vs each baseline")
        ax.set_ylabel("win rate")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "win_rates.png", dpi=100)
    plt.close(fig)


def _markdown(report: dict) -> str:
    s = report["summary"]
    judges, unseen = report["judges"], report["unseen_judges"]
    lines = [f"# Evaluation of `{report['checkpoint']}`", "",
             f"{len(report['songs'])} songs × targets {report['targets']} = {report['edits_per_method']} edits per method. "
             f"Judges, none of whom labelled a training pair: tastes the model never learned from ({', '.join(unseen)}) "
             f"and fresh raters of the tastes it learned ({', '.join(j for j in judges if j not in unseen)}). A tie counts half.", "",
             "| method | keep ratio | |duration error| | planner repairs | dense total | tempo | energy | phrase | transition | duration | learned | seams |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for m, v in s.items():
        learned = "—" if v["learned"] is None else f"{v['learned']:.3f}"
        lines.append(f"| {m} | {v['keep_ratio']:.3f} | {v['abs_duration_error']:.3f} | {v['repairs']} | {v['dense_total']:.3f} | {v['tempo']:.3f} | {v['energy']:.3f} | "
                     f"{v['phrase']:.3f} | {v['transition']:.3f} | {v['duration']:.3f} | {learned} | {v['seams']:.1f} |")
    for m, wins in report["win_rates"].items():
        lines += ["", f"| {m} vs | reward model | " + " | ".join(judges) + " | mean of unseen tastes |", "|---|---|" + "---|" * (len(judges) + 1)]
        for b, w in wins.items():
            rm = "—" if w["reward_model"] is None else f"{w['reward_model']:.3f}"
            lines.append(f"| {b} | {rm} | " + " | ".join(f"{w['judges'][j]:.3f}" for j in judges) + f" | **{w['mean_unseen']:.3f}** |")
    if report.get("moods"):
        mo = report["moods"]
        labels = list(next(iter(mo["match"].values())))
        lines += ["", f"Asked for a mood: the share of {mo['jobs_per_mood']} edits per mood that match it ({mo['basis']}).", "",
                  "| mood | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
        lines += [f"| {name} | " + " | ".join(f"{v[k]:.2f}" for k in labels) + " |" for name, v in mo["match"].items()]
    lines += ["", "![win rates](win_rates.png)"]
    if report.get("training_curves"):
        lines += ["", "![training curves](training_curves.png)"]
    return "\n".join(lines) + "\n"
