"""The analysis backends on held-out real recordings: the learned tracker (the default), the fast
tracker and ``beats.tracker: madmom`` with 8, 2 and 1 of madmom's networks, against madmom's
reference tracks (its 8 networks, 3/4 and 4/4 bars).

Run:  bash scripts/fetch_real_music.sh && .venv/bin/pip install -e '.[reference]' && \\
      .venv/bin/python bench/bench_madmom.py [--split heldout] [--max-tracks 24] [--networks 8,2,1] [--learned-weights PT]

What to expect: one table, a row per backend: mean and lowest beat F and downbeat F against
the reference (mir_eval, ±70 ms) on the held-out tracks (``--split``; the learned tracker never saw
them) where the reference's tempo is steady, and the whole analysis's speed per core
(``analyze_audio``, decoded audio in memory, warm, the process pinned to one core and torch on one
thread: the learned tracker's thread and madmom's share that core; × real time at the median track
and over all the tracks' audio together), and the
accuracy/speed curve of every backend as docs/benchmarks/analysis_backends.png. The reference is
cached per file in .cache/madmom (bench/reference_trackers.py); the madmom backend differs from it in
decoding only a 4/4 bar and in the analysis's resampling, so 8 networks score close to 1, not exactly 1. Per-track figures go to
stderr and bench/results/madmom_backend.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from editor_rl.audio.analysis import analyze_audio
from editor_rl.audio import learned_tracker
from editor_rl.audio.io import decode_audio, to_analysis_signal
from editor_rl.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_trackers import f_measure, madmom_beats, steady  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def backends(networks: list[int], *, learned_weights: str = "") -> dict[str, Config]:
    """The configs compared, by row name: the default, the learned tracker alone (and with other
    weights, when given), the fast tracker, then madmom with each ensemble size."""
    cfg = Config()
    out = {f"{cfg.beats.tracker} (default)": cfg}
    for tracker in ("learned", "fast"):
        if tracker != cfg.beats.tracker:
            out[tracker] = dataclasses.replace(cfg, beats=dataclasses.replace(cfg.beats, tracker=tracker))
    if learned_weights:
        out[f"learned, {Path(learned_weights).name}"] = dataclasses.replace(cfg, beats=dataclasses.replace(cfg.beats, tracker="learned", learned_weights=learned_weights))
    for n in networks:
        out[f"madmom, {n} network{'s' if n > 1 else ''}"] = dataclasses.replace(cfg, beats=dataclasses.replace(cfg.beats, tracker="madmom", madmom_networks=n))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", default=str(ROOT / ".cache" / "real-music"))
    ap.add_argument("--split", default="heldout", choices=["heldout", "train", "all"], help="which of the real tracks (the learned tracker trains on 'train')")
    ap.add_argument("--max-tracks", type=int, default=24, help="at most this many tracks")
    ap.add_argument("--networks", default="8,2,1", help="madmom ensemble sizes to compare ('' for none)")
    ap.add_argument("--learned-weights", default="", help="also the learned tracker alone with these weights (e.g. a retrained model)")
    args = ap.parse_args()
    root = Path(args.real)
    torch.set_num_threads(1)  # speed per core: one thread, one core (the analysis's tracker thread shares it)
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    splits = ["heldout", "train"] if args.split == "all" else [args.split]
    tracks = [t for s in splits for t in sorted((root / s).glob("*")) if t.suffix in (".ogg", ".flac", ".wav", ".mp3")]
    if not tracks:
        raise SystemExit(f"no real recordings in {root}: run scripts/fetch_real_music.sh first")
    configs = backends([int(x) for x in args.networks.split(",") if x], learned_weights=args.learned_weights)
    for cfg in configs.values():  # warm: load madmom's networks, compile numba
        analyze_audio(decode_audio(tracks[0]), config=cfg)

    rows = []
    for p in tracks:
        if len(rows) == args.max_tracks:
            break
        ref_beats, ref_down, _ = madmom_beats(p)
        if not steady(ref_beats):
            continue
        audio = decode_audio(p)
        row = {"track": p.name, "split": p.parent.name, "duration_s": audio.duration_s}
        for name, cfg in configs.items():
            t0 = time.perf_counter()
            a = analyze_audio(audio, config=cfg, song_id=p.stem)
            row[name] = {"beat_f": f_measure(ref_beats, a.beats_s), "down_f": f_measure(ref_down, a.downbeats_s), "x_realtime": audio.duration_s / (time.perf_counter() - t0)}
        got = learned_tracker.track(to_analysis_signal(audio, sample_rate=learned_tracker.SAMPLE_RATE), beats_per_bar=4, min_bpm=70, max_bpm=180, tightness=100)
        row["learned_measures"] = {"beat_confidence": got.beat_confidence, "bar_contrast": got.bar_contrast}
        rows.append(row)
        print(f"  {p.name}: " + "; ".join(f"{k} {v['beat_f']:.3f}/{v['down_f']:.3f} {v['x_realtime']:.0f}×" for k, v in row.items() if isinstance(v, dict) and "beat_f" in v)
              + f"; learned tracker's measures {got.beat_confidence:.2f} / {got.bar_contrast:.2f}",
              file=sys.stderr, flush=True)

    print(f"## Real recordings: {len(rows)} tracks with a steady tempo, {sum(r['split'] == 'heldout' for r in rows)} of them held out\n")
    print("| analysis | beat F mean | beat F min | downbeat F mean | downbeat F min | × real time (median of tracks) | × real time (all tracks together) |\n|---|---|---|---|---|---|---|")
    for name in configs:
        b, d, x = (np.array([r[name][k] for r in rows]) for k in ("beat_f", "down_f", "x_realtime"))
        durations = np.array([r["duration_s"] for r in rows])
        overall = durations.sum() / (durations / x).sum()  # all the audio over all the time
        print(f"| {name} | {b.mean():.3f} | {b.min():.3f} | {d.mean():.3f} | {d.min():.3f} | {np.median(x):.1f} | {overall:.1f} |")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "madmom_backend.json").write_text(json.dumps(rows, indent=1))
    plot(rows, list(configs), ROOT / "docs" / "benchmarks" / "analysis_backends.png")


def plot(rows: list[dict], names: list[str], path: Path) -> None:
    """Accuracy against speed, one point per backend (mean F; speed the median × real time per core)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for name in names:
        x = float(np.median([r[name]["x_realtime"] for r in rows]))
        for key, marker in (("beat_f", "o"), ("down_f", "s")):
            y = float(np.mean([r[name][key] for r in rows]))
            ax.scatter([x], [y], marker=marker, color="tab:blue" if key == "beat_f" else "tab:orange")
            ax.annotate(name, (x, y), fontsize=7, xytext=(4, 2), textcoords="offset points")
    ax.axhline(0.9, color="tab:blue", lw=0.6, ls=":")
    ax.axhline(0.8, color="tab:orange", lw=0.6, ls=":")
    ax.axvline(100, color="gray", lw=0.6, ls=":")
    ax.set_xscale("log")
    ax.set_xlabel("× real time per core (median)")
    ax.set_ylabel("F against madmom's reference (○ beats, □ bar lines)")
    ax.set_title(f"analysis backends on {len(rows)} held-out real tracks", fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
