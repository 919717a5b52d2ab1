"""``editor-rl <command>``: thin wrappers that parse arguments, load the config, call one function.

Every command takes ``--config FILE`` and ``--set section.field=value``; exits 0 on success and 2
with one line on stderr (``editor-rl: error: …``) on bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable, Sequence

from editor_rl.config import Config, load_config
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
    from editor_rl.corpus import FeatureStore, analyze_corpus, list_songs

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
        plan = type(plan)(**{**plan.__dict__, "fade_out": True})
    out = write_audio(args.out, render_plan(audio, plan, config=cfg.render), sample_rate=audio.sample_rate)
    print(f"rendered {plan.duration_s:.2f} s ({len(plan.segments)} segments) to {out}")
    return 0


def cmd_edit(args: argparse.Namespace) -> int:
    from editor_rl.audio.analysis import analyze_audio, file_hash
    from editor_rl.audio.io import decode_audio, write_audio
    from editor_rl.edit.baselines import baseline_edit
    from editor_rl.edit.render import render_plan

    cfg = _config(args)
    kind, _, name = args.policy.partition(":")
    if kind != "baseline" or not name:
        raise EditorRLError(f"--policy {args.policy!r}: expected baseline:NAME (random, every_other_phrase, search)")
    audio = decode_audio(args.song, max_duration_s=cfg.audio.max_duration_s, silence_dbfs=cfg.audio.silence_dbfs, allowed_formats=cfg.audio.allowed_formats)
    analysis = analyze_audio(audio, config=cfg, song_id=Path(args.song).stem, content_hash=file_hash(args.song))
    plan = baseline_edit(name, analysis, target_seconds=args.target_seconds, config=cfg, seed=args.seed, temperature=args.temperature)
    out = write_audio(args.out, render_plan(audio, plan, config=cfg.render), sample_rate=audio.sample_rate)
    edl = plan.save(args.edl) if args.edl else None
    print(f"{Path(args.song).name}: {analysis.duration_s:.1f} s → {plan.duration_s:.1f} s (target {args.target_seconds:.1f} s), "
          f"{plan.n_seams} seams → {out}" + (f", EDL {edl}" if edl else ""))
    return 0


def cmd_quickstart(args: argparse.Namespace) -> int:
    from editor_rl.quickstart import run_quickstart

    run_quickstart(_config(args))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    parser = argparse.ArgumentParser(prog="editor-rl", description="Learn to edit music the way its listeners like it.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, fn: Callable[[argparse.Namespace], int], help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
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
    p.add_argument("--policy", default="baseline:search", metavar="baseline:NAME", help="baseline:random | baseline:every_other_phrase | baseline:search (default)")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (random baseline)")
    p.add_argument("--seed", type=int, default=0)

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
