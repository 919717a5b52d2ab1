"""``editor-rl cycle``: one RLHF round on the service's judgements, from people's clicks to a served policy.

The seeds' cycle — candidates → listen and judge → reward fine-tune → policy fine-tune → test →
deploy — as one command against the running service's data folder. Each step is a function below,
in order:

1. :func:`open_cycle`: the service's store and model registry; the version to improve (everyone's,
   or with ``rater`` that rater's own on top of everyone's) and the judgements and ratings it has not
   learned from yet (newer than its ``used_through``; with ``rater``, only theirs);
2. :func:`hold_out`: a share of those judgements is set aside to measure agreement;
3. :func:`fine_tune_reward`: the reward model fine-tuned from the served one; agreement of the old and
   the new model with the held-out judgements;
4. :func:`fine_tune_policy`: PPO on RLlib from the served policy (KL toward it) against the new reward
   model — ``editor-rl train``'s machinery, resumable;
5. :func:`gate`: the new version (policy + reward model, best of N) against the served one on
   held-out songs by the new reward model's conservative score, and by the held-out judgements when
   there are enough; a version that fails is kept, not promoted, and the report says why;
6. :func:`promote`: ``<data>/models/vNNN`` and, if it passed, ``models/current`` (or
   ``current@<rater>``) naming it — the running service follows at its next request;
7. :func:`next_candidates`: candidates for the next round — the served policy's samples, the baselines
   and searches favouring random sections, at the round's own target length (``cycle.target_ratios``)
   — the store's pairs re-ranked by the new reward model's uncertainty (earlier rounds' pairs retired);
8. :func:`write_report`: ``report.md`` / ``.json`` / ``.png`` in the version folder.

Bad input — fewer than ``min_labels`` new judgements, an unknown rater, an unreachable store, a
corrupt model folder — is an :class:`~editor_rl.errors.EditorRLError` naming it (the CLI exits 2);
nothing is promoted and the service keeps serving the current version.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

from editor_rl.audio.analysis import SongAnalysis
from editor_rl.config import Config
from editor_rl.corpus import FeatureStore, list_songs, load_corpus
from editor_rl.datadir import store_location
from editor_rl.errors import EditorRLError
from editor_rl.preferences.records import PreferenceRecord
from editor_rl.rlhf.models import ModelRegistry, ModelVersion


class Cycle(NamedTuple):
    """What a cycle works on.

    Attributes
    ----------
    data : Path
    store : PreferenceStore
    registry : ModelRegistry
    base : ModelVersion
        The version it improves on (served now).
    name : str
        The new version's name.
    rater : str or None
        A personal cycle's rater.
    records : list of PreferenceRecord
        New judgements (and comparisons from new ratings).
    used_through : int
        The newest judgement id among them.
    ratings_through : int
        The newest rating id used.
    songs : dict of str to SongAnalysis
        The service's songs (the judged ones among them).
    heldout : dict of str to SongAnalysis
        Songs for the gate.
    work : Path
        The cycle's working folder (training run, candidates).
    """

    data: Path
    store: object
    registry: ModelRegistry
    base: ModelVersion
    name: str
    rater: str | None
    records: list[PreferenceRecord]
    used_through: int
    ratings_through: int
    songs: dict[str, SongAnalysis]
    heldout: dict[str, SongAnalysis]
    work: Path


def open_cycle(data_dir: str | Path, *, songs_dir: str | Path, heldout_dir: str | Path | None, min_labels: int, rater: str | None, config: Config) -> Cycle:
    """Step 1: the store, the registry, the version to improve and the new judgements.

    Raises
    ------
    EditorRLError
        No model registry, an unknown rater, a store that cannot be opened, or fewer than
        ``min_labels`` new judgements.
    """
    from editor_rl.preferences.ratings import ratings_to_records
    from editor_rl.preferences.store import PreferenceStore

    data = Path(data_dir)
    registry = ModelRegistry(data)
    if not registry.versions():
        raise EditorRLError(f"{data}: no model versions (start the service with `editor-rl serve --reward CKPT` first)")
    store = PreferenceStore(store_location(data))
    if rater is not None and rater not in {r["name"] for r in store.raters()}:
        raise EditorRLError(f"--rater {rater!r}: no such rater in {data} (editor-rl raters list --data {data})")
    base = registry.current(rater=rater)
    if base is None:
        raise EditorRLError(f"{data}: no model version is served (models/current is missing)")
    mine = base.meta.get("rater") == rater  # what this line of versions has learned from already
    since, ratings_since = (int(base.meta.get("used_through", 0)), int(base.meta.get("ratings_through", 0))) if mine else (0, 0)
    records = store.records(since_id=since, rater_id=rater)
    n = len(records)
    if n < min_labels:
        raise EditorRLError(f"{n} new judgements{' by ' + rater if rater else ''} since {base.name}; at least {min_labels} are needed (--min-labels)")
    used_through = max(int(r.pair_id.rsplit("#", 1)[1]) for r in records)
    ratings = store.ratings(since_id=ratings_since, rater_id=rater)
    records = records + ratings_to_records(ratings)
    ratings_through = max([ratings_since] + [int(r["id"]) for r in ratings])
    store_dir = FeatureStore(data / "features")
    songs = load_corpus(list_songs(songs_dir), store=store_dir, config=config)
    missing = sorted({r.song_id for r in records} - set(songs))
    if missing:
        raise EditorRLError(f"judged songs {', '.join(missing[:5])} are not in --songs {songs_dir}")
    heldout = load_corpus(list_songs(heldout_dir), store=store_dir, config=config) if heldout_dir else {}
    name = registry.next_name()
    return Cycle(data, store, registry, base, name, rater, records, used_through, ratings_through, songs, heldout, data / "cycles" / name)


def hold_out(records: list[PreferenceRecord], *, fraction: float, seed: int) -> tuple[list[PreferenceRecord], list[PreferenceRecord]]:
    """Step 2: (training, held-out) judgements, split by pair at random (seeded)."""
    order = np.random.default_rng(seed).permutation(len(records))
    n_out = int(round(fraction * len(records)))
    held = set(order[:n_out].tolist())
    return [r for i, r in enumerate(records) if i not in held], [r for i, r in enumerate(records) if i in held]


def agreement(scorer, records: list[PreferenceRecord], songs: dict[str, SongAnalysis]) -> float | None:
    """Share of non-tie judgements whose preferred edit the reward model scores higher (None if none)."""
    from editor_rl.rewards.sequence import edit_sequence

    keep = [r for r in records if r.preference != "tie"]
    if not keep:
        return None
    seqs = [edit_sequence(songs[r.song_id], c.plan(), target_seconds=r.target_seconds) for r in keep for c in (r.a, r.b)]
    s = scorer.score(seqs)[0]
    return float(np.mean([(s[2 * i] > s[2 * i + 1]) == (r.preference == "a") for i, r in enumerate(keep)]))


def fine_tune_reward(c: Cycle, train: list[PreferenceRecord], held: list[PreferenceRecord], config: Config, say) -> tuple[Path, dict]:
    """Step 3: the reward model fine-tuned from the served one; its and the old one's agreement with people."""
    from editor_rl.preferences.train import train_reward_model
    from editor_rl.rewards.model import load_scorer

    old = load_scorer(c.base.reward)
    new = train_reward_model(train, c.songs, train_config=config.reward_train, pretrained=old, log=lambda m: say("  " + m))
    path = new.save(c.work / "reward.pt", extra={"parent": c.base.name, "judgements": len(train)})
    stats = {"train_judgements": len(train), "heldout_judgements": len(held), "agreement_before": agreement(old, held, c.songs),
             "agreement_after": agreement(new, held, c.songs), "val_accuracy": new.metrics["val_accuracy"]}
    say(f"cycle: reward model fine-tuned on {len(train)} judgements; agreement with {len(held)} held-out judgements "
        f"{_fmt(stats['agreement_before'])} → {_fmt(stats['agreement_after'])}")
    return path, stats


def fine_tune_policy(c: Cycle, reward: Path, config: Config, say) -> Path:
    """Step 4: PPO from the served policy (KL toward it) against the new reward model; resumable."""
    from editor_rl.rl.train import train

    rl = replace(config.rl, init_policy=str(c.base.policy), reward_checkpoint=str(reward), iterations=config.cycle.ppo_iterations,
                 checkpoint_every=config.cycle.ppo_iterations)
    run = replace(config.run, work_dir=str(c.work / "train"), heldout_dir="")  # the gate chooses: training's best is its latest
    cfg = replace(config, rl=rl, run=run, corpus=replace(config.corpus, store_dir=str(c.data / "features")))
    songs = c.work / "songs"
    songs.mkdir(parents=True, exist_ok=True)
    for a in c.songs.values():  # the training run reads a folder: link the service's songs into one
        link = songs / Path(a.path).name
        if not link.exists():
            link.symlink_to(Path(a.path).resolve())
    out = train(cfg, resume=True, songs_dir=str(songs), log=lambda m: say("  " + m))
    say(f"cycle: policy fine-tuned for {config.cycle.ppo_iterations} PPO iterations from {c.base.name}")
    return Path(out["checkpoint"])


def gate(c: Cycle, policy: Path, reward: Path, reward_stats: dict, config: Config, say) -> dict:
    """Step 5: should the new version be served? (see the module docstring)."""
    from editor_rl.best_of import best_edits
    from editor_rl.rewards.model import load_scorer
    from editor_rl.rewards.sequence import edit_sequence
    from editor_rl.rl.policy import load_policy

    songs = c.heldout or c.songs
    new_scorer, old_scorer = load_scorer(reward), load_scorer(c.base.reward)
    jobs = [(a, t, 7 + k) for k, a in enumerate(songs.values()) for t in config.eval.targets(a.duration_s)]
    new = best_edits(load_policy(policy), jobs, scorer=new_scorer, config=config)
    old = best_edits(load_policy(c.base.policy), jobs, scorer=old_scorer, config=config)
    members = new_scorer.score_members([edit_sequence(a, p, target_seconds=t) for (a, t, _), pn, po in zip(jobs, new, old) for p in (pn, po)])
    value = members.mean(axis=1) - config.pick.uncertainty_penalty * members.std(axis=1)
    wins = [1.0 if value[2 * i] > value[2 * i + 1] + 1e-9 else 0.5 if abs(value[2 * i] - value[2 * i + 1]) <= 1e-9 else 0.0 for i in range(len(jobs))]
    win_rate = float(np.mean(wins))
    reasons = []
    if win_rate < config.cycle.gate_min_win_rate:
        reasons.append(f"the new version wins {win_rate:.2f} of {len(jobs)} held-out edits against {c.base.name} by the new reward model (needs {config.cycle.gate_min_win_rate:.2f})")
    before, after, n_held = reward_stats["agreement_before"], reward_stats["agreement_after"], reward_stats["heldout_judgements"]
    if n_held >= config.cycle.min_holdout_judgements and before is not None and after is not None and after < before:
        reasons.append(f"the new reward model agrees with {n_held} held-out judgements less often than {c.base.name}'s ({after:.2f} < {before:.2f})")
    changed = [i for i, (pn, po) in enumerate(zip(new, old)) if pn.beat_order != po.beat_order]
    result = {"passed": not reasons, "reasons": reasons, "win_rate_vs_served": win_rate, "edits": len(jobs),
              "songs": "held-out" if c.heldout else "the service's own (no --heldout given)", "changed_edits": len(changed),
              "examples": [{"song": jobs[i][0].song_id, "target_s": round(jobs[i][1], 1), "new": new[i].to_edl()["segments"], "served": old[i].to_edl()["segments"]}
                           for i in changed[:3]]}
    say(f"cycle: gate {'passed' if result['passed'] else 'failed: ' + '; '.join(reasons)} (win rate vs {c.base.name} {win_rate:.2f})")
    return result


def promote(c: Cycle, policy: Path, reward: Path, passed: bool, say) -> None:
    """Step 6: the new version into the registry; served (to everyone, or to the rater) if it passed."""
    c.registry.add(policy=policy, reward=reward, name=c.name, meta={"parent": c.base.name, "rater": c.rater, "used_through": c.used_through,
                                                                      "ratings_through": c.ratings_through, "promoted": passed})
    if passed:
        c.registry.promote(c.name, rater=c.rater)
        say(f"cycle: promoted {c.name}" + (f" for {c.rater}" if c.rater else "") + " — the service serves it from its next request")
    else:
        say(f"cycle: kept {c.name} without promoting it; {c.base.name} is still served")


def next_candidates(c: Cycle, config: Config, say) -> int:
    """Step 7: candidates for the next round at its own target length; pairs re-ranked by uncertainty."""
    from editor_rl.candidates import load_manifest, make_candidates
    from editor_rl.preferences.active import rescore_pairs
    from editor_rl.rewards.model import load_scorer
    from editor_rl.rl.policy import load_policy, policy_identity

    served = c.registry.current(rater=c.rater)
    scorer = load_scorer(served.reward)
    k = int(c.name[1:])  # the round after vNNN is round NNN (the service's own candidates were round 1)
    ratio = config.cycle.target_ratios[(k - 1) % len(config.cycle.target_ratios)]
    m = make_candidates(c.songs, out_dir=c.data / "candidates" / c.name, per_song=config.cycle.candidates_per_song, temperatures=(0.3, 0.7, 1.0),
                        target_ratio=ratio, section_plans=config.cycle.section_plans, module=load_policy(served.policy),
                        model=policy_identity(served.policy), scorer=scorer, config=config, seed=k)
    load_manifest(m.path, store=c.store, retire_others=True)
    n = rescore_pairs(c.store, scorer, c.songs)
    say(f"cycle: {len(m.candidates)} new candidates from {served.name} at {ratio:.0%} of each song; {n} pairs ranked for judging by the reward model's uncertainty")
    return len(m.candidates)


def write_report(c: Cycle, result: dict) -> Path:
    """Step 8: report.md, report.json and report.png in the version folder."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = c.registry.root / c.name
    (folder / "report.json").write_text(json.dumps(result, indent=1, default=str))
    r, g = result["reward"], result["gate"]
    fig, ax = plt.subplots(1, 2, figsize=(8, 3))
    ax[0].bar(["before", "after"], [r["agreement_before"] or 0, r["agreement_after"] or 0], color=["gray", "tab:blue"])
    ax[0].set_ylim(0, 1)
    ax[0].set_title(f"agreement with {r['heldout_judgements']} held-out judgements")
    ax[1].bar([c.base.name, c.name], [1 - g["win_rate_vs_served"], g["win_rate_vs_served"]], color=["gray", "tab:green" if g["passed"] else "tab:red"])
    ax[1].set_ylim(0, 1)
    ax[1].set_title("held-out edits won (new reward model)")
    fig.tight_layout()
    fig.savefig(folder / "report.png", dpi=100)
    plt.close(fig)
    lines = [f"# {c.name}" + (f" for {c.rater}" if c.rater else ""), "",
             f"From {c.base.name}, on {result['labels']} new judgements and ratings (through judgement {c.used_through}).", "",
             "| | before | after |", "|---|---|---|",
             f"| reward model's agreement with {r['heldout_judgements']} held-out judgements | {_fmt(r['agreement_before'])} | {_fmt(r['agreement_after'])} |", "",
             f"Gate: **{'passed' if g['passed'] else 'failed'}** — the new version's best-of-N edits won {g['win_rate_vs_served']:.2f} of {g['edits']} edits of "
             f"{g['songs']} songs against {c.base.name}'s (new reward model, conservative score); {g['changed_edits']} edits changed."]
    lines += [f"- {x}" for x in g["reasons"]]
    lines += ["", f"{'Promoted' if g['passed'] else 'Kept, not promoted'}; {result.get('candidates', 0)} new candidates for judging.", "",
              "Edits that changed (segments in seconds of the source, new version against the served one):", ""]
    lines += [f"- {e['song']} at {e['target_s']} s: new {json.dumps(e['new'])[:400]} — served {json.dumps(e['served'])[:400]}" for e in g["examples"]]
    lines += ["", "![report](report.png)", ""]
    (folder / "report.md").write_text("\n".join(lines))
    return folder / "report.md"


def _fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}"


def run_cycle(data_dir: str | Path, *, songs_dir: str | Path, heldout_dir: str | Path | None = None, min_labels: int | None = None,
              rater: str | None = None, config: Config = Config(), log: Callable[[str], None] = print) -> dict:
    """One RLHF cycle (see the module docstring); returns the report dict.

    Raises
    ------
    EditorRLError
        Too few new judgements, an unknown rater, an unreachable store, a corrupt model folder.
    """
    t0 = time.time()
    say = lambda m: log(f"[cycle {time.time() - t0:6.1f}s] {m}")  # noqa: E731
    c = open_cycle(data_dir, songs_dir=songs_dir, heldout_dir=heldout_dir, min_labels=config.cycle.min_labels if min_labels is None else min_labels,
                   rater=rater, config=config)
    say(f"{len(c.records)} new judgements and rating comparisons{' by ' + rater if rater else ''} since {c.base.name}; making {c.name}")
    train_records, held = hold_out(c.records, fraction=config.cycle.holdout_fraction, seed=c.used_through)
    reward, reward_stats = fine_tune_reward(c, train_records, held, config, say)
    policy = fine_tune_policy(c, reward, config, say)
    verdict = gate(c, policy, reward, reward_stats, config, say)
    promote(c, policy, reward, verdict["passed"], say)
    result = {"version": c.name, "parent": c.base.name, "rater": c.rater, "labels": len(c.records), "used_through": c.used_through,
              "reward": reward_stats, "gate": verdict}
    result["candidates"] = next_candidates(c, config, say)
    result["seconds"] = round(time.time() - t0, 1)
    say(f"report: {write_report(c, result)}")
    return result
