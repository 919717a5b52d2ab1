"""RewardPool throughput: batched against one request at a time, in one run (CPU).

Run:  .venv/bin/python bench/bench_pool.py [--edits 256] [--d-model 256 --layers 3]

What to expect: a local Ray (2 CPUs), one pool actor with 1 CPU hosting a freshly initialised
reward model of the given size (throughput does not depend on the weights), and 256 edits of
synthetic songs (about 30–60 output beats each). Rows: sequences per second when the whole list is
sent in one ``pool.score`` call (chunks of ``max_batch`` = 64), when each edit is sent alone and
waited for, and when all edits are sent as concurrent single-edit calls (the actor's own batching
merges them); plus the model without Ray, batched, as the reference. On a GPU the same script
runs with ``--gpu``: ``--actors 4 --gpu-share 0.25`` puts four actors on one device, in
``--precision fp32`` (the default) or ``bf16`` (autocast), in chunks of ``pool.gpu_max_batch``;
there ``--edits 8192`` fills the device (the first ``--distinct`` edits are made and repeated:
scoring cost does not depend on which edit it is).
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from pathlib import Path

import numpy as np
import ray
import torch

from editor_rl.audio.analysis import analyze_audio
from editor_rl.audio.io import Audio
from editor_rl.audio.synth import synthesize_song
from editor_rl.config import Config, PoolConfig, RewardModelConfig, SynthConfig
from editor_rl.editors.baselines import baseline_edit
from editor_rl.rewards.model import Normalizer, RewardModel, RewardScorer, collate, collate_sequences, patches
from editor_rl.rewards.sequence import edit_sequence
from editor_rl.rewards.pool import RewardPool


def time_split(scorer: RewardScorer, seqs: list, *, batch_size: int) -> tuple[float, float]:
    """µs per sequence spent building batches on the host and in the model (synchronised), in the
    scorer's precision, over ``seqs`` sorted by length as :meth:`RewardScorer.score_members` does."""
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i].tokens))
    sync = torch.cuda.synchronize if scorer.device.startswith("cuda") else (lambda: None)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if scorer.precision == "bf16" else contextlib.nullcontext()
    build = model = 0.0
    with torch.no_grad(), autocast:
        for k in range(0, len(order), batch_size):
            t0 = time.perf_counter()
            batch = scorer.batch([seqs[i] for i in order[k : k + batch_size]])
            sync()
            t1 = time.perf_counter()
            scorer.model(batch).float().cpu()
            build, model = build + t1 - t0, model + time.perf_counter() - t1
    return 1e6 * build / len(seqs), 1e6 * model / len(seqs)


def host_batching(seqs: list, norm: Normalizer, *, beats_per_token: int, batch_size: int, repeats: int = 5) -> tuple[float, float]:
    """µs per sequence to build CPU batches the training way (``collate`` of per-edit
    :func:`patches`) and the scoring way (:func:`collate_sequences`), medians of ``repeats``
    alternating passes over ``seqs`` sorted by length."""
    order = sorted(seqs, key=lambda s: len(s.tokens))
    chunks = [order[k : k + batch_size] for k in range(0, len(order), batch_size)]
    ways = {
        "patches": lambda c: collate([patches(s, norm, beats_per_token) for s in c], [s.context for s in c], [norm.apply_descriptors(s.descriptors) for s in c]),
        "tensor": lambda c: collate_sequences(c, norm, beats_per_token),
    }
    times: dict = {k: [] for k in ways}
    for _ in range(repeats):
        for name, build in ways.items():
            t = time.perf_counter()
            for c in chunks:
                build(c)
            times[name].append(1e6 * (time.perf_counter() - t) / len(seqs))
    return float(np.median(times["patches"])), float(np.median(times["tensor"]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--edits", type=int, default=256)
    ap.add_argument("--distinct", type=int, default=512, help="edits made; repeated up to --edits")
    ap.add_argument("--d-model", type=int, default=256)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--gpu", action="store_true")
    ap.add_argument("--actors", type=int, default=1)
    ap.add_argument("--gpu-share", type=float, default=1.0, help="GPU per actor with --gpu (0.25: four actors per device)")
    ap.add_argument("--precision", choices=("bf16", "fp32"), default="fp32", help="on CUDA; CPU is always fp32")
    args = ap.parse_args()
    cfg = Config()
    songs = [analyze_audio(Audio(synthesize_song(seed=990 + i, config=SynthConfig(min_seconds=40, max_seconds=60))[0], 44100, f"p{i}.wav"), config=cfg, song_id=f"p{i}") for i in range(4)]
    made = []
    for k in range(min(args.edits, args.distinct)):
        a = songs[k % len(songs)]
        made.append(edit_sequence(a, baseline_edit("random", a, target_seconds=0.6 * a.duration_s, config=cfg, seed=k, temperature=2.0), target_seconds=0.6 * a.duration_s))
    seqs = [made[k % len(made)] for k in range(args.edits)]
    mc = RewardModelConfig(d_model=args.d_model, n_layers=args.layers, d_ff=4 * args.d_model)
    torch.manual_seed(0)
    scorer = RewardScorer(RewardModel(mc), Normalizer.fit(seqs), device="cuda" if args.gpu else "cpu", precision=args.precision)
    ckpt = scorer.save(Path(tempfile.mkdtemp()) / "bench.pt")
    torch.set_num_threads(1)
    batch_size = PoolConfig().gpu_max_batch if args.gpu else PoolConfig().max_batch
    scorer.score(seqs[:batch_size], batch_size=batch_size)
    t = time.perf_counter()
    scorer.score(seqs, batch_size=batch_size)
    direct = len(seqs) / (time.perf_counter() - t)
    build_us, model_us = time_split(scorer, seqs, batch_size=batch_size)
    old_us, new_us = host_batching(made, scorer.normalizer, beats_per_token=mc.beats_per_token, batch_size=batch_size)
    agreement = ""
    if args.gpu:  # the device's scores against fp32 on the CPU, same weights
        ref = RewardScorer(scorer.model.to("cpu"), scorer.normalizer).score_members(made[:256])
        scorer.model.to("cuda")
        got = scorer.score_members(made[:256])
        agreement = f"; members' scores against fp32 on CPU: relative error {np.linalg.norm(got - ref) / np.linalg.norm(ref):.1e}"

    ray.init(num_cpus=max(2, args.actors), num_gpus=1 if args.gpu else 0, include_dashboard=False, configure_logging=False, log_to_driver=False)
    pool = RewardPool(ckpt, config=PoolConfig(num_actors=args.actors, num_cpus=1, num_gpus=args.gpu_share if args.gpu else 0, max_batch=64, max_wait_ms=5,
                                              precision=args.precision))
    pool.score(seqs[: pool.chunk * args.actors])  # warm every actor at full chunks
    t = time.perf_counter()
    pool.score(seqs)
    batched = len(seqs) / (time.perf_counter() - t)
    n_single = min(64, len(seqs))
    t = time.perf_counter()
    for s in seqs[:n_single]:
        pool.score([s])
    single = n_single / (time.perf_counter() - t)
    n_conc = min(2048, len(seqs))
    t = time.perf_counter()
    ray.get([pool.actors[0].score.remote([s]) for s in seqs[:n_conc]])
    concurrent = n_conc / (time.perf_counter() - t)
    stats = pool.stats()[0]
    chunk = pool.chunk
    pool.shutdown()
    ray.shutdown()
    params = sum(p.numel() for p in scorer.model.parameters())
    mean_len = np.mean([len(s.tokens) for s in seqs])
    dev = f"GPU, {args.actors} actor(s) at {args.gpu_share} GPU, {stats['precision']}" if args.gpu else f"CPU, 1 thread, {args.actors} actor(s)"
    print(f"model d={args.d_model}, {args.layers} layers, {params:,} parameters; {len(seqs)} edits of {mean_len:.0f} beats on average; {dev}{agreement}\n")
    print("| mode | sequences/s |\n|---|---|")
    print(f"| pool, one call of {len(seqs)} (chunks of {chunk}) | {batched:.1f} |")
    print(f"| pool, one edit per call, sequential | {single:.1f} |")
    print(f"| pool, {n_conc} concurrent single-edit calls to one actor (actor batching) | {concurrent:.1f} |")
    print(f"| model without Ray, batched by {batch_size} (reference) | {direct:.1f} |")
    print(f"| batched / one-at-a-time | {batched / single:.1f}× |")
    print(f"\nwithout Ray, per sequence: {build_us:.1f} µs building batches on the host, {model_us:.1f} µs in the model"
          f"\nhost batch building on CPU, per sequence (chunks of {batch_size}): {old_us:.1f} µs as collate of patches, {new_us:.1f} µs as collate_sequences ({old_us / new_us:.1f}×)")
    print(f"\nactor forward passes so far: {stats['batches']} for {stats['sequences']} sequences")


if __name__ == "__main__":
    main()
