"""Environment and search-baseline speed, one core.

Run:  .venv/bin/python bench/bench_env.py [--seconds 5]

What to expect: raw ``MusicEditEnv.step`` throughput (no gymnasium wrappers, actions drawn
uniformly from the allowed ones with a pre-drawn random stream, so the policy costs next to
nothing) in terminal and shaped reward modes without the planner hint, and with it (random actions
leave the plan at almost every step, so this is the hint's worst case: a re-plan per step up to
``env.max_replans``), episodes per second, and the search baseline's
seconds per 3-minute song (median over 5 songs). Goal: ≥ 20 000 env steps per second per core.
"""

from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import argparse
import statistics
import time

import numpy as np

from editor_rl.audio.analysis import analyze_audio
from editor_rl.audio.io import Audio
from editor_rl.audio.synth import synthesize_song
from editor_rl.config import Config, EnvConfig, SynthConfig
from editor_rl.editors.baselines import search_edit
from editor_rl.policy.env import MusicEditEnv


def steps_per_second(env: MusicEditEnv, seconds: float) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    u = rng.random(1 << 20)
    obs, _ = env.reset(seed=0)
    steps = episodes = k = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(1000):
            allowed = np.flatnonzero(obs["action_mask"])
            obs, _, term, trunc, _ = env.step(int(allowed[int(u[k & 0xFFFFF] * len(allowed))]))
            k += 1
            steps += 1
            if term or trunc:
                episodes += 1
                obs, _ = env.reset()
    dt = time.perf_counter() - t0
    return steps / dt, episodes / dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    args = ap.parse_args()
    cfg = Config()
    three_min = SynthConfig(min_seconds=180, max_seconds=180)
    songs = []
    for seed in range(5):
        samples, _ = synthesize_song(seed=7000 + seed, config=three_min)
        songs.append(analyze_audio(Audio(samples, 44100, f"s{seed}.wav"), config=cfg, song_id=f"s{seed}"))
    print("| figure | value |\n|---|---|")
    for mode, hint in (("terminal", False), ("shaped", False), ("terminal", True)):
        sps, eps = steps_per_second(MusicEditEnv(songs, config=EnvConfig(reward_mode=mode, planner_hint=hint)), args.seconds)
        what = f"{mode} reward" + (", planner hint (re-plans whenever the random actions leave the plan)" if hint else ", no planner hint")
        print(f"| env steps/s per core, {what} | {sps:,.0f} |")
        print(f"| episodes/s per core, {what} | {eps:,.1f} |")
    times = []
    for a in songs:
        t0 = time.perf_counter()
        search_edit(a, target_seconds=0.5 * a.duration_s, config=cfg)
        times.append(time.perf_counter() - t0)
    print(f"| search baseline, s per 3-min song (target 50 %, median of {len(songs)}) | {statistics.median(times):.3f} |")
    print(f"| beats per 3-min song (median) | {statistics.median(a.n_beats for a in songs):.0f} |")


if __name__ == "__main__":
    main()
