"""``editor-rl <command>``: thin wrappers that parse arguments, load the config, call one function.

Every command takes ``--config FILE`` and ``--set section.field=value``; exits 0 on success and 2
with one line on stderr (``editor-rl: error: …``) on bad input.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Callable, Sequence

from editor_rl.config import Config, config_data, load_config
from editor_rl.errors import EditorRLError


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="YAML config (default: the embedded quickstart config)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE", help="override one config field (repeatable)")


def _config(args: argparse.Namespace) -> Config:
    return load_config(args.config, overrides=args.overrides)


def cmd_synth(args: argparse.Namespace) -> int:
    from editor_rl.audio.synth import write_corpus

    if args.n < 1:
        raise EditorRLError(f"--n {args.n}: must be at least 1")
    cfg = _config(args)
    paths = write_corpus(args.out, n=args.n, seed=args.seed, config=cfg.synth)
    print(f"wrote {len(paths)} songs with .truth.json to {args.out}")
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from editor_rl.audio.analysis import analyze_file
    from editor_rl.corpus.store import FeatureStore, analyze_corpus, list_songs

    cfg = _config(args)
    target = Path(args.path)
    if target.is_dir():
        store = FeatureStore(args.store or cfg.corpus.store_dir)
        report = analyze_corpus(list_songs(target), store=store, config=cfg, progress=not args.json)
        if args.json:
            print(json.dumps(report.to_dict()))
        else:
            print(f"analysed {len(report.analysed)}, already stored {len(report.skipped)}, failed {len(report.failed)} → {store.root}")
            for sid, msg in report.failed.items():
                print(f"  failed {sid}: {msg}")
        return 0
    if not target.exists():
        raise EditorRLError(f"{str(target)!r} does not exist")
    analysis = analyze_file(target, config=cfg)
    if args.store:
        FeatureStore(args.store).put(analysis)
    summary = analysis.summary()
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{target.name}: {summary['duration_s']:.1f} s, {summary['tempo_bpm']:.1f} BPM, {summary['n_beats']} beats, "
              f"{len(summary['downbeats_s'])} bars, {len(summary['phrase_starts_s'])} phrases, {summary['feature_dim']} features/beat")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from editor_rl.audio.io import decode_audio, write_audio
    from editor_rl.edit.plan import EditPlan
    from editor_rl.edit.render import render_plan

    cfg = _config(args)
    audio = decode_audio(args.song, max_duration_s=cfg.audio.max_duration_s, silence_dbfs=cfg.audio.silence_dbfs)
    plan = EditPlan.load(args.edl, source_duration_s=audio.duration_s)
    if plan.sample_rate != audio.sample_rate:
        raise EditorRLError(f"{Path(args.edl).name}: sample_rate={plan.sample_rate} but {Path(args.song).name} is {audio.sample_rate} Hz")
    if args.fade_out:
        plan = dataclasses.replace(plan, fade_out=True)
    out = write_audio(args.out, render_plan(audio, plan, config=cfg.render), sample_rate=audio.sample_rate)
    print(f"rendered {plan.duration_s:.2f} s ({len(plan.segments)} segments) to {out}")
    return 0


def _edit_plan(args: argparse.Namespace, analysis, cfg: Config):
    """The edit ``editor-rl edit`` makes: a baseline (``--policy``), a policy's own edit
    (``--checkpoint``, best of N with ``--reward``) or the shipped model's best of N (neither)."""
    from editor_rl.editors.baselines import baseline_edit

    mood = args.mood
    if args.policy:
        kind, _, name = args.policy.partition(":")
        if kind != "baseline" or not name:
            raise EditorRLError(f"--policy {args.policy!r}: expected baseline:NAME (random, every_other_phrase, search)")
        if mood is not None and name != "search":
            raise EditorRLError(f"--mood {args.mood_text!r} with --policy {args.policy!r}: a mood steers the model's best edit or baseline:search only")
        if mood is not None:
            from editor_rl.editors.mood import mood_search_edits

            return dataclasses.replace(mood_search_edits(analysis, target_seconds=args.target_seconds, mood=mood, config=cfg, strengths=(1.0,))[0], mood=mood)
        temperature = 1.0 if args.temperature is None else args.temperature
        return baseline_edit(name, analysis, target_seconds=args.target_seconds, config=cfg, seed=args.seed, temperature=temperature)
    from editor_rl.editors.best_of import best_picks, job_seed
    from editor_rl.policy.rollouts import policy_edit
    from editor_rl.rewards.model import load_scorer
    from editor_rl.policy.load import load_policy
    from editor_rl.policy.shipped import policy_or_shipped

    policy, reward = policy_or_shipped(args.checkpoint, args.reward)
    module = load_policy(policy)
    if reward and not args.temperature:
        job = (analysis, args.target_seconds, job_seed(analysis, args.target_seconds) + args.seed)
        return best_picks(module, [job], scorer=load_scorer(reward), config=cfg, moods=[mood])[0].plan
    if mood is not None:
        raise EditorRLError(f"--mood {args.mood_text!r} with --temperature {args.temperature}: a mood steers the best edit (temperature 0) only")
    return policy_edit(module, analysis, target_seconds=args.target_seconds, config=cfg, temperature=args.temperature or 0.0, seed=args.seed)


def cmd_edit(args: argparse.Namespace) -> int:
    from editor_rl.audio.analysis import analyze_audio, file_hash
    from editor_rl.audio.mood import parse_mood
    from editor_rl.audio.io import decode_audio, write_audio
    from editor_rl.search.promise import check_target
    from editor_rl.edit.render import render_plan

    cfg = _config(args)
    if args.policy and args.checkpoint:
        raise EditorRLError(f"--policy {args.policy!r} and --checkpoint {args.checkpoint!r}: give one of them")
    args.mood_text, args.mood = args.mood, parse_mood(args.mood)
    audio = decode_audio(args.song, max_duration_s=cfg.audio.max_duration_s, silence_dbfs=cfg.audio.silence_dbfs, allowed_formats=cfg.audio.allowed_formats)
    analysis = analyze_audio(audio, config=cfg, song_id=Path(args.song).stem, content_hash=file_hash(args.song))
    check_target(analysis, args.target_seconds)
    plan = _edit_plan(args, analysis, cfg)
    out = write_audio(args.out, render_plan(audio, plan, config=cfg.render), sample_rate=audio.sample_rate)
    edl = plan.save(args.edl) if args.edl else None
    print(f"{Path(args.song).name}: {analysis.duration_s:.1f} s → {plan.duration_s:.1f} s (target {args.target_seconds:.1f} s), "
          f"{plan.n_seams} seams" + (f", mood {plan.mood.name or f'{plan.mood.arousal:+.2f},{plan.mood.valence:+.2f}'}" if plan.mood else "")
          + f" → {out}" + (f", EDL {edl}" if edl else ""))
    return 0


def _song_analyses(songs_dir: str, cfg: Config) -> dict:
    from editor_rl.corpus.store import FeatureStore, list_songs, load_corpus

    paths = list_songs(songs_dir)
    if not paths:
        raise EditorRLError(f"no audio files in {songs_dir!r}")
    return load_corpus(paths, store=FeatureStore(cfg.corpus.store_dir), config=cfg, progress=True)


def _report_reward(scorer, out: Path) -> None:
    m = scorer.metrics
    print(f"reward model → {out}: validation accuracy {m['val_accuracy']:.3f} on {m['val_pairs']} held-out-song pairs "
          f"(start {m['initial_val_accuracy']:.3f}), log loss {m['val_log_loss']:.3f}, ECE {m['val_ece']:.3f}, best epoch {m['best_epoch']}")


def cmd_reward_pretrain(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from editor_rl.audio.reference import heard_song
    from editor_rl.raters.rater import panel
    from editor_rl.preferences.records import write_jsonl
    from editor_rl.raters.synthetic import make_pairs
    from editor_rl.rewards.train import train_reward_model

    cfg = _config(args)
    if args.pairs < 2:
        raise EditorRLError(f"--pairs {args.pairs}: need at least 2")
    if args.references is not None and not Path(args.references).is_dir():
        raise EditorRLError(f"--references {args.references}: no such folder")
    analyses = _song_analyses(args.songs, cfg)
    if args.references is not None:
        deaf = [k for k, a in analyses.items() if heard_song(a.path, references=args.references) is None]
        print(f"reward pretrain: {len(analyses) - len(deaf)} of {len(analyses)} songs heard through their truth or references"
              + (f"; the raters hear the analysis of {', '.join(deaf[:3])}{' …' if len(deaf) > 3 else ''}" if deaf else ""), file=sys.stderr)
    with tqdm(total=args.pairs, desc="pairs", unit="pair") as bar:
        records = make_pairs(list(analyses.values()), n_pairs=args.pairs, raters=panel(cfg.rater.pretrain_tastes, seed=cfg.rater.seed, references=args.references),
                             config=cfg, seed=cfg.run.seed, progress=lambda k: bar.update(k - bar.n))
    out = Path(args.out)
    pairs_path = write_jsonl(out.with_suffix(".pairs.jsonl"), records)
    scorer = train_reward_model(records, analyses, model_config=cfg.reward_model, train_config=cfg.reward_train)
    scorer.save(out, extra={"pairs": str(pairs_path)})
    _report_reward(scorer, out)
    return 0


def cmd_reward_train(args: argparse.Namespace) -> int:
    from editor_rl.preferences.records import read_preferences
    from editor_rl.rewards.train import train_reward_model
    from editor_rl.rewards.model import load_scorer

    cfg = _config(args)
    read_preferences(args.preferences)  # a malformed file fails now, not after minutes of analysis
    analyses = _song_analyses(args.songs, cfg)
    records = read_preferences(args.preferences, durations={k: a.duration_s for k, a in analyses.items()})
    pretrained = load_scorer(args.pretrained) if args.pretrained else None
    scorer = train_reward_model(records, analyses, model_config=cfg.reward_model, train_config=cfg.reward_train, pretrained=pretrained)
    out = Path(args.out)
    scorer.save(out, extra={"preferences": str(args.preferences), "pretrained": str(args.pretrained or "")})
    _report_reward(scorer, out)
    return 0


def cmd_reward_score(args: argparse.Namespace) -> int:
    from editor_rl.audio.analysis import analyze_file
    from editor_rl.edit.plan import EditPlan
    from editor_rl.rewards.model import load_scorer
    from editor_rl.rewards.sequence import edit_sequence

    cfg = _config(args)
    scorer = load_scorer(args.checkpoint)
    analysis = analyze_file(args.song, config=cfg)
    seqs = [edit_sequence(analysis, EditPlan.load(e, source_duration_s=analysis.duration_s), target_seconds=args.target_seconds) for e in args.edl]
    rewards, stds = scorer.score(seqs)
    for e, r, s in zip(args.edl, rewards, stds):
        print(json.dumps({"edl": e, "reward": round(float(r), 6), "std": round(float(s), 6)}))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    cfg = _config(args)
    if args.algorithm == "dpo":
        from editor_rl.preferences.records import read_preferences
        from editor_rl.rl.dpo import train_dpo

        if not args.preferences:
            raise EditorRLError("--algorithm dpo needs --preferences FILE")
        read_preferences(args.preferences)  # a malformed file fails before the analysis
        analyses = _song_analyses(args.songs or str(Path(cfg.run.work_dir) / "songs"), cfg)
        records = read_preferences(args.preferences, durations={k: a.duration_s for k, a in analyses.items()})
        out_dir = Path(cfg.run.work_dir) / "checkpoints" / "dpo"
        res = train_dpo(records, analyses, config=cfg, out_dir=out_dir, init_checkpoint=args.init)
        print(f"DPO on {res['pairs']} pairs ({res['skipped']} skipped) → policy {res['checkpoint']}")
        return 0
    if args.algorithm == "bc":
        from editor_rl.rl.bc import train_bc

        analyses = _song_analyses(args.songs or str(Path(cfg.run.work_dir) / "songs"), cfg)
        res = train_bc(analyses, config=cfg, out_dir=Path(cfg.run.work_dir) / "checkpoints" / "bc")
        print(f"behaviour cloning on {res['steps']} steps of search edits → policy {res['checkpoint']} (start PPO from it with --set rl.init_policy=…)")
        return 0
    from editor_rl.rl.train import resumed_config, train

    if args.resume:  # the run's own config, with what is named here on top (checked against the run)
        cfg = resumed_config(config_data(args.config, overrides=args.overrides))
    out = train(cfg, resume=args.resume, songs_dir=args.songs)
    print(f"trained {len(out['history'])} iterations; latest checkpoint {out['checkpoint']}; best {out['best']}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from editor_rl.apps.evaluate import evaluate

    cfg = _config(args)
    out = Path(args.out or Path(args.checkpoint).resolve().parent.parent / "report")
    report = evaluate(args.checkpoint, songs_dir=args.songs, out_dir=out, config=cfg, seed=args.seed, progress=True)
    for m, wins in report["win_rates"].items():
        for b, w in wins.items():
            rm = "n/a" if w["reward_model"] is None else f"{w['reward_model']:.2f}"
            print(f"{m} vs {b:18s}: win rate {w['mean_unseen']:.2f} (unseen tastes: {', '.join(report['unseen_judges'])}), {rm} (reward model)")
    print(f"report: {out / 'report.md'}")
    return 0


def _floats(text: str, name: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError as e:
        raise EditorRLError(f"{name} {text!r}: must be comma-separated numbers") from e


def cmd_candidates(args: argparse.Namespace) -> int:
    from editor_rl.rlhf.candidates import make_candidates
    from editor_rl.rewards.model import load_scorer
    from editor_rl.policy.load import load_policy, policy_identity

    cfg = _config(args)
    temperatures = _floats(args.temperatures, "--temperatures")
    analyses = _song_analyses(args.songs, cfg)
    m = make_candidates(analyses, out_dir=args.out, per_song=args.per_song, temperatures=temperatures, target_ratio=args.target_ratio,
                        section_plans=args.section_plans, module=load_policy(args.checkpoint) if args.checkpoint else None,
                        model=policy_identity(args.checkpoint) if args.checkpoint else "",
                        scorer=load_scorer(args.reward) if args.reward else None, config=cfg, seed=args.seed)
    print(f"{len(m.candidates)} candidates of {len(analyses)} songs, {len(m.pairs)} comparison tasks → {m.path}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from editor_rl.policy.load import load_policy
    from editor_rl.policy.shipped import policy_or_shipped
    from editor_rl.serving.deployments import ServeSettings
    from editor_rl.serving.run import serve_forever

    cfg = _config(args)
    if not (1 <= args.port <= 65535):
        raise EditorRLError(f"--port {args.port}: must be in 1..65535")
    temperatures = _floats(args.temperatures, "--temperatures")
    checkpoint, reward = policy_or_shipped(args.checkpoint, args.reward)
    load_policy(checkpoint)  # fail early, with one line, on a wrong checkpoint
    settings = ServeSettings(checkpoint=checkpoint, data_dir=args.data, songs_dir=args.songs or "", store=args.store or "", reward=reward, config=cfg)
    serve_forever(settings, host=args.host, port=args.port, per_song=args.per_song, temperatures=temperatures)
    return 0


def cmd_cycle(args: argparse.Namespace) -> int:
    from editor_rl.rlhf.datadir import service_songs
    from editor_rl.rlhf.cycle import run_cycle

    cfg = _config(args)
    songs = args.songs or service_songs(args.data)
    if not songs:
        raise EditorRLError(f"--songs DIR is needed: {args.data} does not record the songs its service edits")
    if args.min_labels is not None and args.min_labels < 1:
        raise EditorRLError(f"--min-labels {args.min_labels}: must be at least 1")
    result = run_cycle(args.data, songs_dir=songs, heldout_dir=args.heldout, min_labels=args.min_labels, rater=args.rater, config=cfg)
    if "pending" in result:
        print(f"{result['pending']}: awaiting verification — {result['verdict']['reason']}; no new cycle until it is settled")
        return 0
    v = result["verification"]
    print(f"{result['version']}: {v['status']} — {v['reason']} ({result['labels']} labels); "
          f"report {Path(args.data) / 'models' / result['version'] / 'report.md'}")
    return 0


def cmd_raters_add(args: argparse.Namespace) -> int:
    from editor_rl.rlhf.datadir import store_location
    from editor_rl.preferences.store import PreferenceStore

    print(PreferenceStore(store_location(args.data)).add_rater(args.name))
    return 0


def cmd_raters_list(args: argparse.Namespace) -> int:
    from editor_rl.rlhf.datadir import store_location
    from editor_rl.preferences.store import PreferenceStore

    for r in PreferenceStore(store_location(args.data)).raters():
        print(f"{r['name']}\t{r['judgements']} judgements\t{r['ratings']} ratings")
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from editor_rl.apps.tune import run_tune

    cfg = _config(args)
    out = run_tune(cfg, resume=args.resume, judgements=args.judgements)
    print(f"{len(out['trials'])} trials; best {out['best']}; table {out['results']}; plot {out['plot']}")
    return 0


def cmd_quickstart(args: argparse.Namespace) -> int:
    from editor_rl.apps.quickstart import run_quickstart

    run_quickstart(_config(args))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    parser = argparse.ArgumentParser(prog="editor-rl", description="Learn to edit music the way its listeners like it.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, fn: Callable[[argparse.Namespace], int], help_: str, *, under=sub) -> argparse.ArgumentParser:
        p = under.add_parser(name, help=help_, description=help_)
        _common(p)
        p.set_defaults(fn=fn)
        return p

    p = add("synth", cmd_synth, "write synthetic songs with ground truth (<name>.truth.json)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--n", type=int, default=8, help="number of songs (default 8)")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")

    p = add("analyze", cmd_analyze, "analyse a song (prints a summary) or a folder (Ray tasks into the feature store)")
    p.add_argument("path", metavar="SONG|DIR")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--store", metavar="DIR", help="feature store folder (default: corpus.store_dir)")

    p = add("render", cmd_render, "render an EDL of a song to audio")
    p.add_argument("song", metavar="SONG")
    p.add_argument("--edl", required=True, metavar="EDL.json")
    p.add_argument("--out", required=True, metavar="OUT.wav")
    p.add_argument("--fade-out", action="store_true", help="fade out at the end even if the EDL does not ask")

    p = add("edit", cmd_edit, "edit a song to a target length and render it")
    p.add_argument("song", metavar="SONG")
    p.add_argument("--target-seconds", type=float, required=True, metavar="T", help="length of the edit, seconds")
    p.add_argument("--out", required=True, metavar="OUT.wav")
    p.add_argument("--edl", metavar="EDL.json", help="also write the edit decision list")
    p.add_argument("--checkpoint", metavar="CKPT", help="a trained policy (training checkpoint folder); default: the model shipped in the package")
    p.add_argument("--reward", metavar="CKPT", help="with --checkpoint: its reward model, to serve best of N as the service does")
    p.add_argument("--policy", default="", metavar="baseline:NAME", help="a baseline instead of a model: baseline:random | baseline:every_other_phrase | baseline:search")
    p.add_argument("--temperature", type=float, default=None,
                   help="sampling temperature (a model: default 0 = its best edit, above 0 = one sample of its policy; random baseline: default 1)")
    p.add_argument("--mood", default=None, metavar="MOOD",
                   help="the edit's mood: calm, energetic, dark, bright, tense, uplifting, or AROUSAL,VALENCE in [-1, 1], e.g. --mood=-0.5,0.2 (the best edit and baseline:search)")
    p.add_argument("--seed", type=int, default=0)

    reward = sub.add_parser("reward", help="train and use the learned reward model", description="train and use the learned reward model")
    rsub = reward.add_subparsers(dest="reward_command", required=True, metavar="SUBCOMMAND")

    p = add("pretrain", cmd_reward_pretrain, "pretrain on synthetic pairs judged by a mixture of simulated tastes (rater.pretrain_tastes)", under=rsub)
    p.add_argument("--songs", required=True, metavar="DIR")
    p.add_argument("--pairs", type=int, default=5000, metavar="N")
    p.add_argument("--references", metavar="DIR", help="the raters hear recordings through the reference annotations cached here "
                   "(madmom's, bench/reference_trackers.py), not through the analysis the model learns from; synthetic songs by their truth")
    p.add_argument("--out", required=True, metavar="CKPT")
    p = add("train", cmd_reward_train, "train (or fine-tune) on a preference file (JSONL or Parquet)", under=rsub)
    p.add_argument("--preferences", required=True, metavar="FILE")
    p.add_argument("--songs", required=True, metavar="DIR", help="folder whose file stems are the records' song_id")
    p.add_argument("--pretrained", metavar="CKPT", help="fine-tune from this checkpoint at a lower learning rate")
    p.add_argument("--out", required=True, metavar="CKPT")
    p = add("score", cmd_reward_score, "score EDLs of a song; one JSON line per EDL", under=rsub)
    p.add_argument("--checkpoint", required=True, metavar="CKPT")
    p.add_argument("--song", required=True, metavar="SONG")
    p.add_argument("--edl", required=True, action="append", metavar="EDL.json")
    p.add_argument("--target-seconds", type=float, metavar="T", help="the length the edits were asked for, if known")

    p = add("train", cmd_train, "PPO on RLlib with the learned reward in the loop (local Ray or RAY_ADDRESS's cluster)")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint under run.work_dir, with the run's own config "
                   "(a --set that conflicts with it is an error)")
    p.add_argument("--songs", metavar="DIR", help="training songs (default: <run.work_dir>/songs)")
    p.add_argument("--algorithm", choices=("ppo", "dpo", "bc"), default="ppo",
                   help="ppo (default): RL against the learned reward; dpo: straight from preference pairs; bc: imitate the search baseline (a starting policy)")
    p.add_argument("--preferences", metavar="FILE", help="preference pairs (JSONL/Parquet), for --algorithm dpo")
    p.add_argument("--init", metavar="CKPT", help="DPO: start (and reference) policy; default a fresh one")

    p = add("evaluate", cmd_evaluate, "evaluate a trained policy against the baselines; writes report.md/.json and plots")
    p.add_argument("--checkpoint", required=True, metavar="CKPT")
    p.add_argument("--songs", required=True, metavar="DIR")
    p.add_argument("--out", metavar="DIR", help="report folder (default: <run>/report next to the checkpoints)")
    p.add_argument("--seed", type=int, default=0)

    p = add("candidates", cmd_candidates, "render K edits per song (policy and baselines) and the pairs to compare; writes evaluation_manifest.json")
    p.add_argument("--songs", required=True, metavar="DIR")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--per-song", type=int, default=4, metavar="K")
    p.add_argument("--temperatures", default="0.1,0.3,0.5,0.7,0.9", metavar="T1,T2,…")
    p.add_argument("--target-ratio", type=float, default=0.6, metavar="R", help="target length as a fraction of each song (default 0.6)")
    p.add_argument("--section-plans", type=int, default=0, metavar="S", help="searches favouring random sections per song (default 0)")
    p.add_argument("--checkpoint", metavar="CKPT", help="the policy (default: the random baseline stands in)")
    p.add_argument("--reward", metavar="CKPT", help="reward model to score candidates and rank pairs by uncertainty")
    p.add_argument("--seed", type=int, default=0)

    p = add("serve", cmd_serve, "serve the policy, the feedback service and its web UI on Ray Serve (127.0.0.1 by default)")
    p.add_argument("--checkpoint", metavar="CKPT", help="the policy to serve (default: the model shipped in the package, with its reward model)")
    p.add_argument("--data", required=True, metavar="DIR", help="preference store, uploads, renders, token")
    p.add_argument("--songs", metavar="DIR", help="songs to edit by id; candidates for raters are prepared from them")
    p.add_argument("--reward", metavar="CKPT", help="reward model (best of N, ranks pairs by uncertainty, human–model agreement)")
    p.add_argument("--store", metavar="URL", help="preference store: a postgresql:// URL (default: SQLite in <data>/preferences.sqlite)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--per-song", type=int, default=3, metavar="K")
    p.add_argument("--temperatures", default="0.1,0.3,0.5,0.7,0.9", metavar="T1,T2,…")

    p = add("cycle", cmd_cycle, "one RLHF cycle on the service's judgements: settle a pending version, fine-tune reward and policy, "
                                         "DIR/models/vNNN pending its listeners' verification, new candidates")
    p.add_argument("--data", required=True, metavar="DIR", help="the service's data folder (its store, model registry and candidates)")
    p.add_argument("--songs", metavar="DIR", help="the songs the service edits (default: the ones `serve --songs` was given)")
    p.add_argument("--heldout", metavar="DIR", help="songs that verify the new version, none of them trained on (default: cycle.verify_fraction of the service's songs, kept out of training)")
    p.add_argument("--min-labels", type=int, metavar="N", help="fewer new judgements than this: exit 2 (default cycle.min_labels)")
    p.add_argument("--rater", metavar="NAME", help="a personal version: that rater's judgements on top of everyone's version")

    p = add("tune", cmd_tune, "Ray Tune sweep of the reward weights; objective: held-out songs judged by unseen tastes → <work_dir>/tune/{results.csv, best.yaml, tune.png}")
    p.add_argument("--resume", action="store_true", help="continue an interrupted sweep (finished trials are not re-run)")
    p.add_argument("--judgements", metavar="FILE", help="held-out judgements (JSONL/Parquet), for tune.level reward")

    raters = sub.add_parser("raters", help="the people who judge: tokens of their own", description="the people who judge: tokens of their own")
    rsub2 = raters.add_subparsers(dest="raters_command", required=True, metavar="SUBCOMMAND")
    p = add("add", cmd_raters_add, "register a rater; prints their token (one line, shown once)", under=rsub2)
    p.add_argument("name", metavar="NAME")
    p.add_argument("--data", required=True, metavar="DIR", help="the service's data folder")
    p = add("list", cmd_raters_list, "the registered raters and how much each has judged", under=rsub2)
    p.add_argument("--data", required=True, metavar="DIR", help="the service's data folder")

    add("quickstart", cmd_quickstart, "the main job on the embedded default config; work under runs/quickstart/")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``editor-rl`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.fn(args) or 0)
    except EditorRLError as exc:
        print(f"editor-rl: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("editor-rl: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
