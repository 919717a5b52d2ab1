"""Analysis speed: our one-STFT pipeline against the naive one, warm and cold, on one core.

Run:  .venv/bin/python bench/bench_analysis.py [--seconds 180] [--repeats 5]

What to expect: a table of × real time per core for (a) our pipeline warm (in-process, after a
first call), (b) the naive pipeline (each librosa feature function called on the raw signal, as
one would write it first), both on the same 3-minute synthetic song in the same run, their
ratio, and (c) a cold process's wall time from start to the first analysis printed. Targets:
≥ 150× real time warm, ≥ 2× the naive pipeline, cold ≤ 5 s.
"""

from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[var] = "1"  # per core
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core: the tracker's thread shares it with the features' STFT

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def naive_pipeline(y: np.ndarray, sr: int) -> np.ndarray:
    """Each librosa feature function on the raw signal, then beat-synchronous means."""
    import librosa

    _, beats = librosa.beat.beat_track(y=y, sr=sr)
    feats = [
        librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20),
        librosa.feature.chroma_stft(y=y, sr=sr),
        librosa.feature.spectral_contrast(y=y, sr=sr),
        librosa.feature.tonnetz(chroma=librosa.feature.chroma_stft(y=y, sr=sr)),
        librosa.feature.melspectrogram(y=y, sr=sr, n_mels=64),
        librosa.onset.onset_strength(y=y, sr=sr)[None],
        librosa.feature.rms(y=y),
        librosa.feature.spectral_centroid(y=y, sr=sr),
        librosa.feature.spectral_bandwidth(y=y, sr=sr),
        librosa.feature.spectral_rolloff(y=y, sr=sr),
        librosa.feature.spectral_flatness(y=y),
    ]
    n = min(f.shape[1] for f in feats)
    stack = np.concatenate([f[:, :n] for f in feats])
    return librosa.util.sync(stack, beats[beats < n], aggregate=np.mean)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=180.0)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    from editor_rl.audio.analysis import analyze_audio
    from editor_rl.audio.io import decode_audio, to_analysis_signal, write_audio
    from editor_rl.audio.synth import synthesize_song
    from editor_rl.config import Config, SynthConfig

    cfg = Config()
    samples, _ = synthesize_song(seed=42, config=SynthConfig(min_seconds=args.seconds, max_seconds=args.seconds))
    tmp = Path(tempfile.mkdtemp())
    path = write_audio(tmp / "bench_song.wav", samples, sample_rate=44100)
    audio = decode_audio(path)
    y = to_analysis_signal(audio, sample_rate=cfg.audio.sample_rate)
    dur = audio.duration_s

    analyze_audio(audio, config=cfg)  # warm
    naive_pipeline(y, cfg.audio.sample_rate)  # warm (numba JIT)
    ours, naive = [], []
    for _ in range(args.repeats):  # interleaved so drift hits both alike
        t = time.perf_counter()
        analyze_audio(audio, config=cfg)
        ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        naive_pipeline(y, cfg.audio.sample_rate)
        naive.append(time.perf_counter() - t)
    ratios = [n / o for n, o in zip(naive, ours)]

    cold_code = (
        "import sys, time; t=time.time();"
        "from editor_rl.audio import analyze_file; from editor_rl.config import Config;"
        f"a=analyze_file({str(path)!r}, config=Config()); print(a.n_beats, time.time()-t)"
    )
    cold = []
    for _ in range(3):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", cold_code], check=True, capture_output=True, env={**os.environ})
        cold.append(time.perf_counter() - t)

    med = statistics.median
    rows = [
        ("song length (s)", f"{dur:.1f}"),
        ("ours, warm: s per song (median)", f"{med(ours):.3f}"),
        ("ours, warm: × real time per core", f"{dur / med(ours):.0f}"),
        ("naive, warm: s per song (median)", f"{med(naive):.3f}"),
        ("naive, warm: × real time per core", f"{dur / med(naive):.0f}"),
        ("speed-up over naive (median of paired ratios)", f"{med(ratios):.2f}×"),
        ("cold process to first result (s, median of 3)", f"{med(cold):.2f}"),
    ]
    print("| figure | value |\n|---|---|")
    for k, v in rows:
        print(f"| {k} | {v} |")
    print(json.dumps({"ours_s": ours, "naive_s": naive, "cold_s": cold, "duration_s": dur}))


if __name__ == "__main__":
    main()
