"""Judging a trained policy on songs it never trained on, and ``editor-rl evaluate``'s report.

:func:`judge_policy` is the one place a policy is compared with the baselines: for every song and
every target of ``eval`` (``target_ratios``, or ``target_seconds``) the policy (temperature 0) and each baseline make an edit —
every one keeping the length promise, with the planner's repairs counted — and each judge (a
simulated rater that labelled none of the reward model's training pairs) says which of the
policy's edit and the baseline's it prefers; a tie counts half. Training uses it to choose
``checkpoints/best`` on held-out songs; :func:`evaluate` writes the report.

The report (Markdown, JSON, PNG) gives, per method: keep ratio, duration error, planner repairs,
each dense component and the learned reward (when ``rl.reward_checkpoint`` is set); the policy's
win rates against each baseline by the reward model and by every judge; and, if the checkpoint sits
in a training run, its training curves.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping, NamedTuple, Sequence

import numpy as np

from editor_rl.audio.analysis import SongAnalysis
from editor_rl.baselines import BASELINES, baseline_edit
from editor_rl.best_of import best_edits
from editor_rl.config import Config
from editor_rl.corpus import FeatureStore, list_songs, load_corpus
from editor_rl.edit.plan import EditPlan
from editor_rl.policy_edits import policy_edits
from editor_rl.preferences.rater import SimulatedRater, panel
from editor_rl.rewards import dense
from editor_rl.rewards.sequence import edit_sequence, order_of

BASELINE_NAMES = tuple(BASELINES)


def heldout_judges(config: Config) -> list[SimulatedRater]:
    """Fresh raters of the tastes the reward model learns (``rater.pretrain_tastes``) who labelled no
    training pair: they choose ``checkpoints/best``, as held-out judgements of the same listeners would."""
    return panel(config.rater.pretrain_tastes, seed=config.rater.seed + config.eval.judge_seed)


def unseen_judges(config: Config) -> list[SimulatedRater]:
    """Raters of tastes the model never learns from (``rater.judge_tastes``): the evaluation's judges."""
    return panel(config.rater.judge_tastes, seed=config.rater.seed + 2 * config.eval.judge_seed)


class Judged(NamedTuple):
    """What :func:`judge_policy` found.

    Attributes
    ----------
    jobs : list of (SongAnalysis, float)
        Each judged song and target, seconds.
    plans : dict of str to list of EditPlan
        Per method ("policy", "best_of" when a reward model chose among candidates, and each
        baseline), its edit of every job.
    win_rate : dict of str to dict of str to dict of str to float
        Per method, per baseline, per judge id: the share of jobs where the judge preferred the
        method's edit to the baseline's (a tie counts half).
    """

    jobs: list[tuple[SongAnalysis, float]]
    plans: dict[str, list[EditPlan]]
    win_rate: dict[str, dict[str, dict[str, float]]]

    def mean_win_rate(self, baseline: str, judges: Sequence[str] | None = None, *, method: str = "policy") -> float:
        """``method``'s win rate against ``baseline``, averaged over the judges (or the ones named)."""
        return float(np.mean([w for j, w in self.win_rate[method][baseline].items() if judges is None or j in judges]))

    def repairs(self, method: str) -> int:
        """How many of ``method``'s edits the planner had to complete to keep the length promise."""
        return sum(1 for p in self.plans[method] if p.repair)


def judge_policy(module, analyses: Mapping[str, SongAnalysis], *, judges: Sequence[SimulatedRater], config: Config,
                 baselines: Sequence[str] = ("search", "plain_cut"), scorer=None, seed: int = 0) -> Judged:
    """The policy's greedy edits (and, with ``scorer``, its best-of-N edits) against the baselines',
    judged by ``judges`` (see the module docstring).

    Parameters
    ----------
    module : RLModule
    analyses : mapping of song id to SongAnalysis
        Songs the policy never trained on.
    judges : sequence of SimulatedRater
    config : Config
        ``eval.targets`` gives each song's targets; ``pick`` shapes best of N.
    baselines : sequence of str
        Names in :data:`editor_rl.baselines.BASELINES`.
    scorer : RewardScorer or None
        A reward model to choose the best of N candidates (:mod:`editor_rl.best_of`).
    seed : int
        Seed of the random baseline and the sampled candidates.
    """
    jobs = [(a, t) for a in analyses.values() for t in config.eval.targets(a.duration_s)]
    plans = {"policy": policy_edits(module, [(a, t, 0.0, seed) for a, t in jobs], config=config)}  # one lockstep batch
    if scorer is not None:
        plans["best_of"] = best_edits(module, [(a, t, seed + 17 * k) for k, (a, t) in enumerate(jobs)], scorer=scorer, config=config)
    methods = list(plans)
    for b in baselines:
        plans[b] = [baseline_edit(b, a, target_seconds=t, config=config, seed=seed) for a, t in jobs]
    win = {m: {b: {j.rater_id: float(np.mean([j.judge(a, p, q, target_seconds=t).for_a for (a, t), p, q in zip(jobs, plans[m], plans[b])]))
                   for j in judges} for b in baselines} for m in methods}
    return Judged(jobs, plans, win)


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
    from editor_rl.rl.policy import load_policy

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
        learned = dict(zip(methods, scorer.score([edit_sequence(a, plans[m], target_seconds=target, tables=t) for m in methods])[0])) if scorer else {}
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
    lines += ["", "![win rates](win_rates.png)"]
    if report.get("training_curves"):
        lines += ["", "![training curves](training_curves.png)"]
    return "\n".join(lines) + "\n"
