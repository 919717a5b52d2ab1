"""The analysis backends on real recordings: the fast tracker and ``beats.tracker: madmom`` with 8,
2 and 1 of madmom's networks, against madmom's reference tracks (its 8 networks, 3/4 and 4/4 bars).

Run:  bash scripts/fetch_real_music.sh && .venv/bin/pip install -e '.[reference]' && \\
      .venv/bin/python bench/bench_madmom.py [--max-tracks 24] [--networks 8,2,1]

What to expect: one table, a row per backend: mean and lowest beat F and downbeat F against
the reference (mir_eval, ±70 ms) on the real tracks where the reference's tempo is steady (held-out
tracks first), and the whole analysis's speed (``analyze_audio``, decoded audio in memory, warm;
median × real time; madmom's own threads). The reference is cached per file in .cache/madmom
(bench/reference_trackers.py); the backend differs from it in decoding only a 4/4 bar and in the
analysis's resampling, so 8 networks score close to 1, not exactly 1. Per-track figures go to
stderr and bench/results/madmom_backend.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

from editor_rl.audio.analysis import analyze_audio
from editor_rl.audio.io import decode_audio
from editor_rl.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_trackers import f_measure, madmom_beats, steady  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def backends(networks: list[int]) -> dict[str, Config]:
    """The configs compared, by row name: the fast tracker, then madmom with each ensemble size."""
    cfg = Config()
    out = {"fast (default)": cfg}
    for n in networks:
        out[f"madmom, {n} network{'s' if n > 1 else ''}"] = dataclasses.replace(cfg, beats=dataclasses.replace(cfg.beats, tracker="madmom", madmom_networks=n))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", default=str(ROOT / ".cache" / "real-music"))
    ap.add_argument("--max-tracks", type=int, default=24, help="real tracks (held-out first)")
    ap.add_argument("--networks", default="8,2,1", help="madmom ensemble sizes to compare")
    args = ap.parse_args()
    root = Path(args.real)
    tracks = [t for t in sorted((root / "heldout").glob("*")) + sorted((root / "train").glob("*")) if t.suffix in (".ogg", ".flac", ".wav", ".mp3")]
    if not tracks:
        raise SystemExit(f"no real recordings in {root}: run scripts/fetch_real_music.sh first")
    configs = backends([int(x) for x in args.networks.split(",")])
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
        rows.append(row)
        print(f"  {p.name}: " + "; ".join(f"{k} {v['beat_f']:.3f}/{v['down_f']:.3f} {v['x_realtime']:.0f}×" for k, v in row.items() if isinstance(v, dict)),
              file=sys.stderr, flush=True)

    print(f"## Real recordings: {len(rows)} tracks with a steady tempo, {sum(r['split'] == 'heldout' for r in rows)} of them held out\n")
    print("| analysis | beat F mean | beat F min | downbeat F mean | downbeat F min | × real time (median) |\n|---|---|---|---|---|---|")
    for name in configs:
        b, d, x = (np.array([r[name][k] for r in rows]) for k in ("beat_f", "down_f", "x_realtime"))
        print(f"| {name} | {b.mean():.3f} | {b.min():.3f} | {d.mean():.3f} | {d.min():.3f} | {np.median(x):.1f} |")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "madmom_backend.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
