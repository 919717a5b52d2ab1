"""madmom's downbeat tracker as the analysis runs it (:mod:`editor_rl.audio.madmom_fast`) against
madmom's own code, track by track: are the beats and bar positions the same, and how much faster?

Run:  bash scripts/fetch_real_music.sh && .venv/bin/python bench/bench_madmom_fast.py [--tracks DIR]

What to expect: a row per recording (default: the 17 held-out tracks) with its length, whether every
beat time and bar position is identical, and each implementation's speed on one core (decoded audio
at 44.1 kHz in memory, warm; 4/4 bars as the analysis decodes them, 8 networks), then the totals.
Both run in this process, one after the other, pinned to one core.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from editor_rl.audio import madmom_tracker
from editor_rl.audio.io import decode_audio, to_analysis_signal

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tracks", default=str(ROOT / ".cache" / "real-music" / "heldout"))
    args = ap.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    tracks = sorted(p for p in Path(args.tracks).glob("*") if p.suffix in (".ogg", ".flac", ".wav", ".mp3"))
    if not tracks:
        raise SystemExit(f"no recordings in {args.tracks}: run scripts/fetch_real_music.sh first")
    downbeats = madmom_tracker.import_downbeats()
    rnn = downbeats.RNNDownBeatProcessor()
    dbn = downbeats.DBNDownBeatTrackingProcessor(beats_per_bar=[4], fps=madmom_tracker.FPS)
    madmom_tracker.track(np.random.default_rng(0).uniform(-0.1, 0.1, 441000).astype(np.float32), beats_per_bar=4)  # compile, load

    print("| track | length, s | beats | identical beats and bar positions | madmom_fast, × real time | madmom's code, × real time | speed-up |\n|---|---|---|---|---|---|---|")
    total = {"s": 0.0, "fast": 0.0, "madmom": 0.0, "same": 0}
    for path in tracks:
        y = np.ascontiguousarray(to_analysis_signal(decode_audio(path), sample_rate=madmom_tracker.SAMPLE_RATE), dtype=np.float32)
        seconds = len(y) / madmom_tracker.SAMPLE_RATE
        t0 = time.perf_counter()
        beats_s, bar_pos = madmom_tracker.track(y, beats_per_bar=4)
        t1 = time.perf_counter()
        want = np.asarray(dbn(rnn(y)), dtype=np.float64).reshape(-1, 2)
        t2 = time.perf_counter()
        same = np.array_equal(beats_s, want[:, 0]) and np.array_equal(bar_pos, want[:, 1].astype(np.int64) - 1)
        total["s"] += seconds
        total["fast"] += t1 - t0
        total["madmom"] += t2 - t1
        total["same"] += same
        print(f"| {path.name} | {seconds:.0f} | {len(want)} | {'yes' if same else f'**no** ({len(beats_s)} against {len(want)})'} | "
              f"{seconds / (t1 - t0):.0f} | {seconds / (t2 - t1):.1f} | {(t2 - t1) / (t1 - t0):.1f}× |", flush=True)
    print(f"| **all {len(tracks)}** | {total['s']:.0f} | | **{total['same']} of {len(tracks)}** | **{total['s'] / total['fast']:.0f}** | "
          f"**{total['s'] / total['madmom']:.1f}** | **{total['madmom'] / total['fast']:.1f}×** |")


if __name__ == "__main__":
    main()
