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
