"""``editor-rl cycle``: one RLHF round on the service's judgements, from people's clicks to a version its listener verifies.

The seeds' cycle — candidates → listen and judge → reward fine-tune → policy fine-tune → test →
deploy — as one command against the running service's data folder, with the *test* done by the
listener, never by the new models' opinion of themselves. Each step is a function below, in order:

0. :func:`settle_pending`: a version of this line still in its verification round is settled from
   the judgements so far (:func:`editor_rl.rlhf.verification.settle`); if it is still pending, the
   cycle reports where it stands and stops there;
1. :func:`open_cycle`: the service's store and model registry; the version to improve (everyone's,
   or with ``rater`` that rater's own on top of everyone's) and the judgements and ratings it has not
   learned from yet (newer than its ``used_through``; with ``rater``, only theirs); the verification
   songs (``--heldout``, else a share of the service's songs kept out of this cycle's training);
2. :func:`hold_out`: a share of those judgements is set aside to measure agreement;
3. :func:`fine_tune_reward`: the reward model fine-tuned from the served one; agreement of the old and
   the new model with the held-out judgements;
   :func:`fine_tune_mood`: the answers to "which fits the mood better?" among those judgements fit
   the listener's mood head (where they hear each named mood; :mod:`editor_rl.rewards.mood_head`),
   from the served version's;
4. :func:`fine_tune_policy`: the policy learns the new reward model — expert iteration (behaviour
   cloning of its favourites among every kind of edit; :mod:`editor_rl.rlhf.expert`) or PPO on RLlib
   (``cycle.policy_update``);
5. :func:`open_verification`: the new version goes into the registry *pending*; on the verification
   songs at ``cycle.verify_ratios`` its served edit (best of N) against the served version's, where
   they differ, become verification pairs that the service mixes into its rater's samples and
   settles as judgements arrive (promote or retire; :mod:`editor_rl.rlhf.verification`). Only the
   listener decides: the reward models' agreement with held-out judgements is reported, not a verdict
   (on 20 judgements it is too noisy: it once retired a version its listener preferred);
6. :func:`next_candidates`: candidates for the next round — the served policy's samples, the baselines,
   windows, one-cut edits and searches favouring random sections, at the round's own target length
   (``cycle.target_ratios``) — the store's pairs re-ranked by the new reward model's uncertainty;
7. :func:`write_report`: ``report.md`` / ``.json`` / ``.png`` in the version folder.

Bad input — fewer than ``min_labels`` new judgements, an unknown rater, an unreachable store, a
corrupt model folder — is an :class:`~editor_rl.errors.EditorRLError` naming it (the CLI exits 2);
nothing is promoted and the service keeps serving the current version.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

from editor_rl.audio.analysis import SongAnalysis
from editor_rl.config import Config
from editor_rl.config.atomic import write_text_atomic
from editor_rl.corpus.store import FeatureStore, list_songs, load_corpus
from editor_rl.rlhf.datadir import store_location
from editor_rl.errors import EditorRLError
from editor_rl.preferences.records import PreferenceRecord
from editor_rl.rlhf.registry import ModelRegistry, ModelVersion


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
        Songs that verify the new version (none of them trains it).
    train_songs : dict of str to SongAnalysis
        The songs this cycle trains on (the service's, less the verification songs).
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
    train_songs: dict[str, SongAnalysis]
    work: Path


def settle_pending(data_dir: str | Path, *, rater: str | None) -> list[tuple[str, object]]:
    """Step 0: settle this line's versions still in their verification round; (name, Verdict) of each."""
    from editor_rl.preferences.store import PreferenceStore
    from editor_rl.rlhf.verification import settle

    registry = ModelRegistry(data_dir)
    names = registry.pending(rater=rater)
    if not names:
        return []
    store = PreferenceStore(store_location(Path(data_dir)))
    return [(n, settle(store, registry, n)) for n in names]


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
    if heldout_dir:
        heldout = load_corpus(list_songs(heldout_dir), store=store_dir, config=config)
        clash = sorted(i for i in heldout if i in songs and heldout[i].content_hash != songs[i].content_hash)
        if clash:
            raise EditorRLError(f"--heldout {heldout_dir}: {', '.join(clash[:5])} has the name of another song the service edits; rename the held-out songs")
    else:  # a seeded share of the service's songs verifies; none of it trains
        ids = sorted(songs)
        k = min(len(ids) - 1, max(1, round(config.cycle.verify_fraction * len(ids))))
        heldout = {i: songs[i] for i in np.random.default_rng(used_through).choice(ids, size=k, replace=False)} if k >= 1 else {}
    train_songs = {i: a for i, a in songs.items() if i not in heldout}
    name = registry.next_name()
    return Cycle(data, store, registry, base, name, rater, records, used_through, ratings_through, songs, heldout, train_songs, data / "cycles" / name)


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
    from editor_rl.rewards.train import train_reward_model
    from editor_rl.rewards.model import load_scorer

    old = load_scorer(c.base.reward)
    train = [r for r in train if r.song_id in c.train_songs]  # the verification songs train nothing
    new = train_reward_model(train, c.train_songs, train_config=config.reward_train, pretrained=old, log=lambda m: say("  " + m))
    path = new.save(c.work / "reward.pt", extra={"parent": c.base.name, "judgements": len(train)})
    stats = {"train_judgements": len(train), "heldout_judgements": len(held), "agreement_before": agreement(old, held, c.songs),
             "agreement_after": agreement(new, held, c.songs), "val_accuracy": new.metrics["val_accuracy"]}
    say(f"cycle: reward model fine-tuned on {len(train)} judgements; agreement with {len(held)} held-out judgements "
        f"{_fmt(stats['agreement_before'])} → {_fmt(stats['agreement_after'])}")
    return path, stats


def fine_tune_mood(c: Cycle, train: list[PreferenceRecord], say) -> tuple[Path, dict]:
    """Step 3b: the mood head refitted on the mood answers among the training judgements (the served
    version's head where there are none); written to the cycle's folder."""
    from editor_rl.rewards.mood_head import MoodHead, fit_mood_head, mood_judgements

    base = MoodHead.from_json(c.base.mood_head.read_text()) if c.base.mood_head.is_file() else MoodHead()
    judged = mood_judgements(train, c.train_songs)  # only the training songs' answers: the others have no analysis there
    head = fit_mood_head(judged, base=base) if judged else base
    path = write_text_atomic(c.work / "mood_head.json", head.to_json())
    moved = {k: [round(x, 3) for x in head.points[k]] for k in head.points if head.points[k] != base.points.get(k)}
    if judged:
        say(f"cycle: mood head fitted on {len(judged)} mood answers; moved {moved or 'nothing'}")
    return path, {"mood_judgements": len(judged), "moved": moved}


def fine_tune_policy(c: Cycle, reward: Path, config: Config, say) -> Path:
    """Step 4: the policy learns the new reward model: expert iteration or PPO (``cycle.policy_update``); resumable."""
    from editor_rl.rewards.model import load_scorer

    if config.cycle.policy_update == "expert":
        from editor_rl.rlhf.expert import expert_iteration

        out = expert_iteration(c.base.policy, scorer=load_scorer(reward), songs=c.train_songs, config=config, out_dir=c.work / "policy",
                               seed=c.used_through, say=say)
        say(f"cycle: policy fine-tuned by expert iteration from {c.base.name}")
        return out
    from editor_rl.rl.train import train

    rl = replace(config.rl, init_policy=str(c.base.policy), reward_checkpoint=str(reward), iterations=config.cycle.ppo_iterations,
                 checkpoint_every=config.cycle.ppo_iterations)
    run = replace(config.run, work_dir=str(c.work / "train"), heldout_dir="")  # the listener chooses: training's best is its latest
    cfg = replace(config, rl=rl, run=run, corpus=replace(config.corpus, store_dir=str(c.data / "features")))
    songs = c.work / "songs"
    songs.mkdir(parents=True, exist_ok=True)
    for a in c.train_songs.values():  # the training run reads a folder: link the service's songs into one
        link = songs / Path(a.path).name
        if not link.exists():
            link.symlink_to(Path(a.path).resolve())
    out = train(cfg, resume=True, songs_dir=str(songs), log=lambda m: say("  " + m))
    say(f"cycle: policy fine-tuned for {config.cycle.ppo_iterations} PPO iterations from {c.base.name}")
    return Path(out["checkpoint"])


def open_verification(c: Cycle, policy: Path, reward: Path, config: Config, say, *, mood_head: Path | None = None) -> dict:
    """Step 5: the new version into the registry, pending, and its verification pairs into the store (see the module docstring)."""
    from editor_rl.editors.best_of import best_picks, job_seed
    from editor_rl.rewards.model import load_scorer
    from editor_rl.policy.load import load_policy
    from editor_rl.rlhf.verification import Rule, Verdict

    c.registry.add(policy=policy, reward=reward, mood_head=mood_head, name=c.name, meta={"parent": c.base.name, "rater": c.rater, "used_through": c.used_through,
                                                                      "ratings_through": c.ratings_through})
    jobs = [(a, round(r * a.duration_s, 2)) for a in c.heldout.values() for r in config.cycle.verify_ratios]
    jobs = [(a, t, job_seed(a, t)) for a, t in jobs]  # the service's own seeds: the edits it would serve
    new = best_picks(load_policy(policy), jobs, scorer=load_scorer(reward), config=config)
    old = best_picks(load_policy(c.base.policy), jobs, scorer=load_scorer(c.base.reward), config=config)
    changed = [k for k, (pn, po) in enumerate(zip(new, old)) if pn.plan.beat_order != po.plan.beat_order]
    rule = Rule.of(config.cycle)
    if not changed:
        verdict = Verdict("retired", 0, None, None, None, f"it serves what {c.base.name} serves on every verification job")
    else:
        verdict = Verdict("pending", 0, None, None, None, f"{len(changed)} verification pairs; at least {rule.min_judgements} judgements are needed")
        store_pairs(c, [(jobs[k][0], jobs[k][1], new[k].plan, old[k].plan) for k in changed], config=config)
    c.registry.set_verdict(c.name, verdict._asdict() | {"rule": rule._asdict(), "rater": c.rater, "parent": c.base.name, "pairs": len(changed)})
    say(f"cycle: {c.name} {verdict.status}: {verdict.reason}")
    return {"status": verdict.status, "reason": verdict.reason, "pairs": len(changed), "jobs": len(jobs), "served_kinds": dict(Counter(p.kind for p in new)),
            "songs": "held-out (--heldout)" if c.heldout and not set(c.heldout) <= set(c.songs) else "the service's own, kept out of training",
            "examples": [{"song": jobs[k][0].song_id, "target_s": jobs[k][1], "new": new[k].plan.to_edl()["segments"], "new_kind": new[k].kind,
                          "served": old[k].plan.to_edl()["segments"], "served_kind": old[k].kind} for k in changed[:3]]}


def store_pairs(c: Cycle, pairs: list, *, config: Config) -> None:
    """Render and store the verification pairs ``(analysis, target, new plan, served plan)``, the new
    version's edit on a side drawn at random (seeded)."""
    from editor_rl.rlhf.candidates import write_candidate
    from editor_rl.preferences.store_schema import PairRow, VerificationRow

    rng = np.random.default_rng(c.used_through)
    out = c.data / "candidates" / f"{c.name}-verify"
    for a, t, new, old in pairs:
        rows = {who: write_candidate(a, plan, out_dir=out, target_seconds=t, source="verify", model=v, config=config)
                for who, plan, v in (("new", new, c.name), ("old", old, c.base.name))}
        for row in rows.values():
            c.store.add_candidate(row)
        side = "a" if rng.random() < 0.5 else "b"
        a_row, b_row = (rows["new"], rows["old"]) if side == "a" else (rows["old"], rows["new"])
        pair_id = f"verify-{c.name}-{a_row.candidate_id}~{b_row.candidate_id}"
        c.store.add_verification(PairRow(pair_id, a.song_id, a_row.candidate_id, b_row.candidate_id, t, None, 0.5),
                                 VerificationRow(pair_id, c.name, c.base.name, side, c.rater))


def next_candidates(c: Cycle, config: Config, say) -> int:
    """Step 7: candidates for the next round at its own target length; pairs re-ranked by uncertainty."""
    from editor_rl.rlhf.candidates import load_manifest, make_candidates
    from editor_rl.rewards.active import rescore_pairs
    from editor_rl.rewards.model import load_scorer
    from editor_rl.policy.load import load_policy, policy_identity

    served = c.registry.current(rater=c.rater)
    scorer = load_scorer(served.reward)
    k = int(c.name[1:])  # the round after vNNN is round NNN (the service's own candidates were round 1)
    ratio = config.cycle.target_ratios[(k - 1) % len(config.cycle.target_ratios)]
    m = make_candidates(c.songs, out_dir=c.data / "candidates" / c.name, per_song=config.cycle.candidates_per_song, temperatures=(0.3, 0.7, 1.0),
                        target_ratio=ratio, section_plans=config.cycle.section_plans, windows=config.cycle.windows, one_cuts=config.cycle.one_cuts,
                        module=load_policy(served.policy),
                        model=policy_identity(served.policy), scorer=scorer, config=config, seed=k)
    load_manifest(m.path, store=c.store, retire_others=True)
    n = rescore_pairs(c.store, scorer, c.songs)
    say(f"cycle: {len(m.candidates)} new candidates from {served.name} at {ratio:.0%} of each song; {n} pairs ranked for judging by the reward model's uncertainty")
    return len(m.candidates)


def write_report(c: Cycle, result: dict) -> Path:
    """Step 7: report.md, report.json and report.png in the version folder."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = c.registry.root / c.name
    (folder / "report.json").write_text(json.dumps(result, indent=1, default=str))
    r, v = result["reward"], result["verification"]
    fig, ax = plt.subplots(1, 2, figsize=(8, 3))
    ax[0].bar(["before", "after"], [r["agreement_before"] or 0, r["agreement_after"] or 0], color=["gray", "tab:blue"])
    ax[0].set_ylim(0, 1)
    ax[0].set_title(f"agreement with {r['heldout_judgements']} held-out judgements", fontsize=9)
    kinds = sorted(v["served_kinds"])
    ax[1].bar(kinds, [v["served_kinds"][k] for k in kinds], color="tab:green")
    ax[1].set_title(f"what {c.name} serves on {v['jobs']} verification jobs", fontsize=9)
    ax[1].tick_params(axis="x", labelsize=7)
    fig.tight_layout()
    fig.savefig(folder / "report.png", dpi=100)
    plt.close(fig)
    lines = [f"# {c.name}" + (f" for {c.rater}" if c.rater else ""), "",
             f"From {c.base.name}, on {result['labels']} new judgements and ratings (through judgement {c.used_through}); "
             f"policy update: {result['policy_update']}.", "",
             "| | before | after |", "|---|---|---|",
             f"| reward model's agreement with {r['heldout_judgements']} held-out judgements | {_fmt(r['agreement_before'])} | {_fmt(r['agreement_after'])} |", "",
             f"Verification: **{v['status']}** — {v['reason']}. It is served only once "
             f"{'its rater' if c.rater else 'the listeners'} prefer it on songs it was not trained on ({v['songs']}); "
             "`GET /api/models` shows the verdict as judgements arrive.", "",
             f"{result.get('candidates', 0)} new candidates for judging.", "",
             "Verification pairs (segments in seconds of the source, the new version's served edit against the served one's):", ""]
    lines += [f"- {e['song']} at {e['target_s']} s: new ({e['new_kind']}) {json.dumps(e['new'])[:400]} — served ({e['served_kind']}) {json.dumps(e['served'])[:400]}"
              for e in v["examples"]]
    lines += ["", "![report](report.png)", ""]
    (folder / "report.md").write_text("\n".join(lines))
    return folder / "report.md"


def _fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}"


def run_cycle(data_dir: str | Path, *, songs_dir: str | Path, heldout_dir: str | Path | None = None, min_labels: int | None = None,
              rater: str | None = None, config: Config = Config(), log: Callable[[str], None] = print) -> dict:
    """One RLHF cycle (see the module docstring); returns the report dict (``{"pending": …}`` when a
    version of this line is still awaiting its listeners' verdict).

    Raises
    ------
    EditorRLError
        Too few new judgements, an unknown rater, an unreachable store, a corrupt model folder.
    """
    t0 = time.time()
    say = lambda m: log(f"[cycle {time.time() - t0:6.1f}s] {m}")  # noqa: E731
    for name, verdict in settle_pending(data_dir, rater=rater):
        say(f"{name}: {verdict.status} — {verdict.reason}")
        if verdict.status == "pending":
            return {"pending": name, "verdict": verdict._asdict()}
    c = open_cycle(data_dir, songs_dir=songs_dir, heldout_dir=heldout_dir, min_labels=config.cycle.min_labels if min_labels is None else min_labels,
                   rater=rater, config=config)
    say(f"{len(c.records)} new judgements and rating comparisons{' by ' + rater if rater else ''} since {c.base.name}; making {c.name}; "
        f"{len(c.heldout)} songs verify it")
    train_records, held = hold_out(c.records, fraction=config.cycle.holdout_fraction, seed=c.used_through)
    reward, reward_stats = fine_tune_reward(c, train_records, held, config, say)
    mood_head, mood_stats = fine_tune_mood(c, train_records, say)
    policy = fine_tune_policy(c, reward, config, say)
    verification = open_verification(c, policy, reward, config, say, mood_head=mood_head)
    result = {"version": c.name, "parent": c.base.name, "rater": c.rater, "labels": len(c.records), "used_through": c.used_through,
              "policy_update": config.cycle.policy_update, "reward": reward_stats, "mood": mood_stats, "verification": verification}
    result["candidates"] = next_candidates(c, config, say)
    result["seconds"] = round(time.time() - t0, 1)
    say(f"report: {write_report(c, result)}")
    return result
