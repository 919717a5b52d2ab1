"""The main job on the embedded default configuration: ``editor-rl quickstart``.

The whole RLHF pipeline, small enough for a laptop (about 10 minutes on 2 cores):

1. synthesise ``run.n_songs`` training songs, ``run.n_validation`` validation songs (to choose the
   best checkpoint on) and ``run.n_heldout`` held-out songs (for the final evaluation only);
2. analyse them into the feature store (Ray tasks);
3. pretrain the reward model on ``run.n_pairs`` pairs, each judged by a rater of one of the
   ``rater.pretrain_tastes`` (a mixture of listeners);
4. behaviour-clone the search baseline (the starting and reference policy);
5. PPO against the learned reward (KL to the reference) in ``run.rlhf_rounds`` rounds; after
   each round a rater of ``rater.feedback_taste`` judges the policy's own edits, the pairs join the preference set and the
   reward model is fine-tuned (the RLHF loop); at every checkpoint, judges that labelled no
   training pair compare the policy's edits of the validation songs with the search's, and the
   checkpoint they prefer most often becomes ``checkpoints/best``;
6. evaluate ``checkpoints/best`` on the held-out songs, judged by tastes the model never learned from
   (``rater.judge_tastes``);
7. render the policy's edit of the first held-out song.

Everything goes under ``run.work_dir`` (``runs/quickstart/``): ``songs/``, ``validation/``, ``heldout/``,
``features/``, ``reward/`` (pairs and checkpoints), ``checkpoints/`` (``bc``, ``iter_NNNN``,
``best``), ``report/`` and ``edits/``. A stage whose output exists is not redone, so an interrupted
quickstart continues where it stopped.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

from editor_rl.config import Config


class Paths(NamedTuple):
    """Where the quickstart keeps its work (under ``run.work_dir``)."""

    work: Path
    songs: Path
    validation: Path
    heldout: Path
    features: Path
    reward: Path
    checkpoints: Path
    report: Path
    edits: Path

    @classmethod
    def of(cls, work_dir: str) -> "Paths":
        w = Path(work_dir)
        return cls(w, w / "songs", w / "validation", w / "heldout", w / "features", w / "reward", w / "checkpoints", w / "report", w / "edits")


def run_quickstart(config: Config, *, out=None) -> dict:
    """Run the pipeline; returns a dict of what it wrote and measured.

    Parameters
    ----------
    config : Config
        ``run.*`` sizes it; every other section applies as usual.
    out : file or None
        Where progress lines go (None: the current ``sys.stdout``).
    """
    out = out or sys.stdout
    t0 = time.time()
    paths = Paths.of(config.run.work_dir)
    config = replace(config, corpus=replace(config.corpus, store_dir=str(paths.features)))

    def say(msg: str) -> None:
        print(f"[quickstart {time.time() - t0:6.1f}s] {msg}", file=out, flush=True)

    analyses, heldout = make_songs(config, paths, say)  # 1–2
    pretrain_reward(config, paths, analyses, say, out=out)  # 3
    clone_search(config, paths, analyses, say)  # 4
    rounds = rlhf_rounds(config, paths, analyses, say)  # 5
    final_reward, report = evaluate_best(config, paths, say)  # 6
    edl_path, wav_path = render_one(config, paths, heldout[0], say)  # 7
    result = {"songs": str(paths.songs), "heldout": str(paths.heldout), "features": str(paths.features), "reward": str(final_reward),
              "best": str(paths.checkpoints / "best"), "report": str(paths.report / "report.md"), "edl": str(edl_path), "edit": str(wav_path),
              "rounds": rounds, "win_rates": report["win_rates"], "seconds": round(time.time() - t0, 1)}
    (paths.work / "quickstart.json").write_text(json.dumps(result, indent=1))
    say("done. Outputs:")
    for key in ("songs", "reward", "best", "report", "edit"):
        print(f"  {key:7s} {result[key]}", file=out)
    return result


def make_songs(config: Config, paths: Paths, say: Callable[[str], None]) -> tuple[dict, list[Path]]:
    """Steps 1–2: synthesise the missing songs, analyse all of them (Ray tasks); returns the
    training songs' analyses and the held-out songs' paths."""
    from editor_rl.corpus.store import FeatureStore, analyze_corpus, list_songs, load_corpus
    from editor_rl.audio.synth import write_corpus

    run = config.run
    for folder, n, seed in ((paths.songs, run.n_songs, run.seed), (paths.validation, run.n_validation, run.seed + 20_000),
                            (paths.heldout, run.n_heldout, run.seed + 10_000)):
        if n and len(list_songs(folder) if folder.is_dir() else []) < n:
            say(f"synthesising {n} songs into {folder}")
            write_corpus(folder, n=n, seed=seed, config=config.synth)
    train_songs, heldout_songs = list_songs(paths.songs)[: run.n_songs], list_songs(paths.heldout)[: run.n_heldout]
    validation_songs = list_songs(paths.validation)[: run.n_validation] if run.n_validation else []
    say(f"analysing {len(train_songs) + len(validation_songs) + len(heldout_songs)} songs into {paths.features} (Ray tasks)")
    store = FeatureStore(paths.features)
    report = analyze_corpus(train_songs + validation_songs + heldout_songs, store=store, config=config)
    if report.failed:
        say(f"skipping unusable songs: {', '.join(sorted(report.failed))}")
    return load_corpus([p for p in train_songs if p.stem not in report.failed], store=store, config=config), heldout_songs


def pretrain_reward(config: Config, paths: Paths, analyses: dict, say: Callable[[str], None], *, out) -> None:
    """Step 3: ``run.n_pairs`` synthetic pairs judged by a mixture of tastes, and the reward model pretrained on them."""
    from tqdm import tqdm

    from editor_rl.preferences.records import write_jsonl
    from editor_rl.raters.rater import panel
    from editor_rl.raters.synthetic import make_pairs
    from editor_rl.rewards.train import train_reward_model

    pairs_path, reward_path = paths.reward / "pairs.jsonl", paths.reward / "reward_r0.pt"
    if reward_path.is_file():
        return
    n = config.run.n_pairs
    say(f"judging {n} synthetic pairs by a mixture of tastes: {', '.join(config.rater.pretrain_tastes)}")
    with tqdm(total=n, desc="pairs", unit="pair", file=out) as bar:
        records = make_pairs(list(analyses.values()), n_pairs=n, raters=panel(config.rater.pretrain_tastes, seed=config.rater.seed), config=config,
                             seed=config.run.seed, progress=lambda k: bar.update(k - bar.n))
    write_jsonl(pairs_path, records)
    say("pretraining the reward model")
    scorer = train_reward_model(records, analyses, model_config=config.reward_model, train_config=config.reward_train, log=lambda m: say("  " + m))
    scorer.save(reward_path, extra={"pairs": str(pairs_path)})
    m = scorer.metrics
    say(f"reward model: validation accuracy {m['val_accuracy']:.3f} on held-out-song pairs, ECE {m['val_ece']:.3f} → {reward_path}")


def clone_search(config: Config, paths: Paths, analyses: dict, say: Callable[[str], None]) -> None:
    """Step 4: behaviour cloning of the search baseline (the starting and reference policy)."""
    from editor_rl.rl.bc import train_bc

    bc_dir = paths.checkpoints / "bc"
    if bc_dir.is_dir():
        return
    say("behaviour cloning the search baseline (the starting and reference policy)")
    bc = train_bc(analyses, config=config, out_dir=bc_dir, log=lambda m: say("  " + m))
    say(f"behaviour cloning: action accuracy {bc['history'][-1]['accuracy']:.3f} on {bc['steps']} steps")


def rlhf_rounds(config: Config, paths: Paths, analyses: dict, say: Callable[[str], None]) -> list[dict]:
    """Step 5: PPO in ``run.rlhf_rounds`` rounds, the reward model fine-tuned on the rater's
    judgements of the policy's own edits between rounds (see the module docstring)."""
    from editor_rl.raters.rater import SimulatedRater

    rounds_path = paths.work / "rounds.json"
    rounds = json.loads(rounds_path.read_text()) if rounds_path.is_file() else []
    rater = SimulatedRater(config.rater.feedback_taste, seed=config.rater.seed + 1)  # stands in for the people of the feedback service
    for r in range(len(rounds) + 1, config.run.rlhf_rounds + 1):
        rounds.append(rlhf_round(config, paths, analyses, r, rater=rater, say=say))
        rounds_path.write_text(json.dumps(rounds, indent=1))
    chosen = json.loads((paths.checkpoints / "best.json").read_text())
    say(f"best: iteration {chosen['iteration']} (validation win rate vs search {chosen['heldout_win_rate']}, judged by raters that labelled "
        f"no training pair) → {paths.checkpoints / 'best'}")
    return rounds


def rlhf_round(config: Config, paths: Paths, analyses: dict, r: int, *, rater, say: Callable[[str], None]) -> dict:
    """One round: PPO against the round's reward model, the rater's feedback on the policy's
    edits, and (before the last round) the reward model fine-tuned on it with a replay of older pairs."""
    from editor_rl.policy.load import load_policy
    from editor_rl.preferences.records import read_preferences, write_jsonl
    from editor_rl.raters.online import policy_feedback
    from editor_rl.rewards.model import load_scorer
    from editor_rl.rewards.train import train_reward_model
    from editor_rl.rl.train import train

    run = config.run
    per_round = max(1, config.rl.iterations // run.rlhf_rounds)
    reward_now, pairs_path = paths.reward / f"reward_r{r - 1}.pt", paths.reward / "pairs.jsonl"
    iters = config.rl.iterations if r == run.rlhf_rounds else r * per_round
    rl_cfg = replace(config.rl, reward_checkpoint=str(reward_now), init_policy=str(paths.checkpoints / "bc"), iterations=iters,
                     checkpoint_every=min(config.rl.checkpoint_every, per_round))
    say(f"round {r}/{run.rlhf_rounds}: PPO to iteration {iters} against {reward_now.name}")
    res = train(replace(config, rl=rl_cfg), resume=True, songs_dir=str(paths.songs), log=lambda m: say("  " + m), allow_changes=("rl.reward_checkpoint",))
    fb = policy_feedback(load_policy(res["checkpoint"]), analyses, rater=rater, config=config, round_id=f"r{r}", seed=run.seed + r)
    say(f"round {r}: the training rater prefers the policy to the search in {fb.win_rate:.2f} of {fb.n_compared} training edits")
    records = read_preferences(pairs_path, durations={k: a.duration_s for k, a in analyses.items()}) + fb.records
    write_jsonl(pairs_path, records)
    if r < run.rlhf_rounds:
        say(f"round {r}: fine-tuning the reward model on the {len(fb.records)} new pairs (the policy's edits) and a replay of older ones")
        rng = np.random.default_rng(run.seed + r)
        old = [records[i] for i in rng.permutation(len(records) - len(fb.records))[: 3 * len(fb.records)]]  # replay
        scorer = train_reward_model(old + fb.records, analyses, model_config=config.reward_model, train_config=replace(config.reward_train, max_epochs=10),
                                    pretrained=load_scorer(reward_now), log=lambda m: say("  " + m))
        scorer.save(paths.reward / f"reward_r{r}.pt", extra={"pairs": str(pairs_path), "round": r})
    judged = [h["heldout_win_rate"] for h in res["history"] if h.get("heldout_win_rate") is not None and h["iteration"] > (r - 1) * per_round]
    return {"round": r, "checkpoint": res["checkpoint"], "win_rate_vs_search_training_rater": fb.win_rate,
            "validation_win_rate_vs_search": max(judged) if judged else None, "new_pairs": len(fb.records)}


def evaluate_best(config: Config, paths: Paths, say: Callable[[str], None]) -> tuple[Path, dict]:
    """Step 6: ``checkpoints/best`` on the held-out songs, judged by tastes that labelled nothing;
    returns the final reward model and the report."""
    from editor_rl.apps.evaluate import evaluate

    final_reward = paths.reward / f"reward_r{config.run.rlhf_rounds - 1}.pt"
    eval_cfg = replace(config, rl=replace(config.rl, reward_checkpoint=str(final_reward)))
    rep = evaluate(paths.checkpoints / "best", songs_dir=paths.heldout, out_dir=paths.report, config=eval_cfg)
    for m, wins in rep["win_rates"].items():
        for b, w in wins.items():
            per = ", ".join(f"{j} {w['judges'][j]:.2f}" for j in rep["unseen_judges"])
            say(f"held-out: {m} preferred to {b:18s} in {w['mean_unseen']:.2f} of pairs by unseen tastes ({per}); {w['reward_model']:.2f} by the reward model")
    return final_reward, rep


def render_one(config: Config, paths: Paths, song: Path, say: Callable[[str], None]) -> tuple[Path, Path]:
    """Step 7: the best policy's edit of ``song`` at half its length, as an EDL and a WAV."""
    from editor_rl.corpus.store import FeatureStore
    from editor_rl.audio.io import decode_audio, write_audio
    from editor_rl.edit.render import render_plan
    from editor_rl.policy.load import load_policy
    from editor_rl.policy.rollouts import policy_edit

    analysis = FeatureStore(paths.features).load_song(song, config=config)
    target = round(0.5 * analysis.duration_s, 1)
    plan = policy_edit(load_policy(paths.checkpoints / "best"), analysis, target_seconds=target, config=config)
    edl_path = plan.save(paths.edits / f"{song.stem}.policy.json")
    audio = decode_audio(song)
    wav_path = write_audio(paths.edits / f"{song.stem}.policy.wav", render_plan(audio, plan, config=config.render), sample_rate=audio.sample_rate)
    say(f"policy edit of {song.name}: {analysis.duration_s:.1f} s → {plan.duration_s:.1f} s (target {target} s), {plan.n_seams} seams")
    return edl_path, wav_path
