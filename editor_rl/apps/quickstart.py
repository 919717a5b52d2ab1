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

import numpy as np

from editor_rl.config import Config


def run_quickstart(config: Config, *, out=None) -> dict:
    """Run the pipeline; returns a dict of what it wrote and measured.

    Parameters
    ----------
    config : Config
        ``run.*`` sizes it; every other section applies as usual.
    out : file or None
        Where progress lines go (None: the current ``sys.stdout``).
    """
    from editor_rl.audio.io import decode_audio, write_audio
    from editor_rl.audio.synth import write_corpus
    from editor_rl.audio.corpus import FeatureStore, analyze_corpus, list_songs, load_corpus
    from editor_rl.edit.render import render_plan
    from editor_rl.apps.evaluate import evaluate
    from editor_rl.raters.online import policy_feedback
    from editor_rl.raters.rater import SimulatedRater, panel
    from editor_rl.preferences.records import read_preferences, write_jsonl
    from editor_rl.raters.synthetic import make_pairs
    from editor_rl.rewards.train import train_reward_model
    from editor_rl.rewards.model import load_scorer
    from editor_rl.rl.bc import train_bc
    from editor_rl.policy.rollouts import policy_edit
    from editor_rl.policy.load import load_policy
    from editor_rl.rl.train import train

    from tqdm import tqdm

    out = out or sys.stdout
    t0 = time.time()
    run = config.run
    work = Path(run.work_dir)
    songs_dir, validation_dir, heldout_dir, store_dir = work / "songs", work / "validation", work / "heldout", work / "features"
    reward_dir, ckpt_dir, report_dir, edits_dir = work / "reward", work / "checkpoints", work / "report", work / "edits"
    config = replace(config, corpus=replace(config.corpus, store_dir=str(store_dir)))

    def say(msg: str) -> None:
        print(f"[quickstart {time.time() - t0:6.1f}s] {msg}", file=out, flush=True)

    # 1–2. songs and analysis
    folders = ((songs_dir, run.n_songs, run.seed), (validation_dir, run.n_validation, run.seed + 20_000), (heldout_dir, run.n_heldout, run.seed + 10_000))
    for folder, n, seed in folders:
        if n and len(list_songs(folder) if folder.is_dir() else []) < n:
            say(f"synthesising {n} songs into {folder}")
            write_corpus(folder, n=n, seed=seed, config=config.synth)
    train_songs, heldout_songs = list_songs(songs_dir)[: run.n_songs], list_songs(heldout_dir)[: run.n_heldout]
    validation_songs = list_songs(validation_dir)[: run.n_validation] if run.n_validation else []
    say(f"analysing {len(train_songs) + len(validation_songs) + len(heldout_songs)} songs into {store_dir} (Ray tasks)")
    store = FeatureStore(store_dir)
    report = analyze_corpus(train_songs + validation_songs + heldout_songs, store=store, config=config)
    if report.failed:
        say(f"skipping unusable songs: {', '.join(sorted(report.failed))}")
    analyses = load_corpus([p for p in train_songs if p.stem not in report.failed], store=store, config=config)

    # 3. reward model
    rater = SimulatedRater(config.rater.feedback_taste, seed=config.rater.seed + 1)  # stands in for the people of the feedback service
    pairs_path, reward_path = reward_dir / "pairs.jsonl", reward_dir / "reward_r0.pt"
    if not reward_path.is_file():
        say(f"judging {run.n_pairs} synthetic pairs by a mixture of tastes: {', '.join(config.rater.pretrain_tastes)}")
        with tqdm(total=run.n_pairs, desc="pairs", unit="pair", file=out) as bar:
            records = make_pairs(list(analyses.values()), n_pairs=run.n_pairs, raters=panel(config.rater.pretrain_tastes, seed=config.rater.seed), config=config,
                                 seed=run.seed, progress=lambda k: bar.update(k - bar.n))
        write_jsonl(pairs_path, records)
        say("pretraining the reward model")
        scorer = train_reward_model(records, analyses, model_config=config.reward_model, train_config=config.reward_train, log=lambda m: say("  " + m))
        scorer.save(reward_path, extra={"pairs": str(pairs_path)})
        m = scorer.metrics
        say(f"reward model: validation accuracy {m['val_accuracy']:.3f} on held-out-song pairs, ECE {m['val_ece']:.3f} → {reward_path}")

    # 4. behaviour cloning
    bc_dir = ckpt_dir / "bc"
    if not bc_dir.is_dir():
        say("behaviour cloning the search baseline (the starting and reference policy)")
        bc = train_bc(analyses, config=config, out_dir=bc_dir, log=lambda m: say("  " + m))
        say(f"behaviour cloning: action accuracy {bc['history'][-1]['accuracy']:.3f} on {bc['steps']} steps")

    # 5. PPO in RLHF rounds
    rounds_path = work / "rounds.json"
    rounds = json.loads(rounds_path.read_text()) if rounds_path.is_file() else []
    per_round = max(1, config.rl.iterations // run.rlhf_rounds)
    durations = {k: a.duration_s for k, a in analyses.items()}
    for r in range(len(rounds) + 1, run.rlhf_rounds + 1):
        reward_now = reward_dir / f"reward_r{r - 1}.pt"
        iters = config.rl.iterations if r == run.rlhf_rounds else r * per_round
        rl_cfg = replace(config.rl, reward_checkpoint=str(reward_now), init_policy=str(bc_dir), iterations=iters, checkpoint_every=min(config.rl.checkpoint_every, per_round))
        say(f"round {r}/{run.rlhf_rounds}: PPO to iteration {iters} against {reward_now.name}")
        res = train(replace(config, rl=rl_cfg), resume=True, songs_dir=str(songs_dir), log=lambda m: say("  " + m), allow_changes=("rl.reward_checkpoint",))
        fb = policy_feedback(load_policy(res["checkpoint"]), analyses, rater=rater, config=config, round_id=f"r{r}", seed=run.seed + r)
        say(f"round {r}: the training rater prefers the policy to the search in {fb.win_rate:.2f} of {fb.n_compared} training edits")
        records = read_preferences(pairs_path, durations=durations) + fb.records
        write_jsonl(pairs_path, records)
        if r < run.rlhf_rounds:
            say(f"round {r}: fine-tuning the reward model on the {len(fb.records)} new pairs (the policy's edits) and a replay of older ones")
            rng = np.random.default_rng(run.seed + r)
            old = [records[i] for i in rng.permutation(len(records) - len(fb.records))[: 3 * len(fb.records)]]  # replay
            scorer = train_reward_model(old + fb.records, analyses, model_config=config.reward_model, train_config=replace(config.reward_train, max_epochs=10),
                                        pretrained=load_scorer(reward_now), log=lambda m: say("  " + m))
            scorer.save(reward_dir / f"reward_r{r}.pt", extra={"pairs": str(pairs_path), "round": r})
        judged = [h["heldout_win_rate"] for h in res["history"] if h.get("heldout_win_rate") is not None and h["iteration"] > (r - 1) * per_round]
        rounds.append({"round": r, "checkpoint": res["checkpoint"], "win_rate_vs_search_training_rater": fb.win_rate,
                       "validation_win_rate_vs_search": max(judged) if judged else None, "new_pairs": len(fb.records)})
        rounds_path.write_text(json.dumps(rounds, indent=1))
    best = ckpt_dir / "best"
    chosen = json.loads((ckpt_dir / "best.json").read_text())
    say(f"best: iteration {chosen['iteration']} (validation win rate vs search {chosen['heldout_win_rate']}, judged by raters that labelled no training pair) → {best}")

    # 6. evaluation on held-out songs, by a rater that labelled nothing
    final_reward = reward_dir / f"reward_r{run.rlhf_rounds - 1}.pt"
    eval_cfg = replace(config, rl=replace(config.rl, reward_checkpoint=str(final_reward)))
    rep = evaluate(best, songs_dir=heldout_dir, out_dir=report_dir, config=eval_cfg)
    for m, wins in rep["win_rates"].items():
        for b, w in wins.items():
            per = ", ".join(f"{j} {w['judges'][j]:.2f}" for j in rep["unseen_judges"])
            say(f"held-out: {m} preferred to {b:18s} in {w['mean_unseen']:.2f} of pairs by unseen tastes ({per}); {w['reward_model']:.2f} by the reward model")

    # 7. one rendered edit
    first = heldout_songs[0]
    analysis = store.load_song(first, config=config)
    target = round(0.5 * analysis.duration_s, 1)
    plan = policy_edit(load_policy(best), analysis, target_seconds=target, config=config)
    edl_path = plan.save(edits_dir / f"{first.stem}.policy.json")
    audio = decode_audio(first)
    wav_path = write_audio(edits_dir / f"{first.stem}.policy.wav", render_plan(audio, plan, config=config.render), sample_rate=audio.sample_rate)
    say(f"policy edit of {first.name}: {analysis.duration_s:.1f} s → {plan.duration_s:.1f} s (target {target} s), {plan.n_seams} seams")
    result = {"songs": str(songs_dir), "heldout": str(heldout_dir), "features": str(store_dir), "reward": str(final_reward), "best": str(best),
              "report": str(report_dir / "report.md"), "edl": str(edl_path), "edit": str(wav_path), "rounds": rounds,
              "win_rates": rep["win_rates"], "seconds": round(time.time() - t0, 1)}
    (work / "quickstart.json").write_text(json.dumps(result, indent=1))
    say("done. Outputs:")
    for key in ("songs", "reward", "best", "report", "edit"):
        print(f"  {key:7s} {result[key]}", file=out)
    return result
