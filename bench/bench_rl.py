"""PPO throughput: env steps per second with the learned reward in the loop against dense-only,
and with 1 and 2 EnvRunners, in one run (so the ratios are comparable).

Run:  .venv/bin/python bench/bench_rl.py [--iterations 6] [--reward CKPT] [--set rl.envs_per_env_runner=8]

What to expect: a local Ray with 2 CPUs; 6 synthetic songs; PPO iterations of 2 000 env steps
(whole episodes). Each row trains a fresh algorithm for ``--iterations`` iterations and reports the
median env steps per second of wall time per iteration (sampling + learned-reward scoring +
learning), after a first warm-up iteration. Goal: learned / dense ≥ 0.85. Without ``--reward`` a
small reward model is trained first on 600 synthetic pairs (a minute).

On a machine with a GPU, ``--gpu [--cpus 16 --runners 4]`` compares the PPO learner on CPU and on
the GPU (``rl.learner_gpus``) with the dense reward, and the learned reward with the pool on the
GPU too (``pool.num_gpus=0.5``), each with ``--runners`` EnvRunners.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import ray

from editor_rl.audio.synth import write_corpus
from editor_rl.config import SynthConfig, load_config
from editor_rl.corpus.store import FeatureStore, analyze_corpus, list_songs, load_corpus


def run(cfg, songs, pool, iterations: int) -> float:
    from editor_rl.rl.algo import build_ppo_config

    algo = build_ppo_config(cfg, songs=songs, pool=pool).build_algo()
    devices = algo.learner_group.foreach_learner(lambda learner: {str(p.device) for m in learner.module.values() for p in m.parameters()})
    print(f"learner parameters on: {sorted(set().union(*(r.get() for r in devices)))}", flush=True)
    rates = []
    try:
        for i in range(iterations):
            t = time.perf_counter()
            r = algo.train()
            dt = time.perf_counter() - t
            steps = r["env_runners"].get("num_env_steps_sampled", 0) or 0
            if i > 0:
                rates.append(steps / dt)
    finally:
        algo.stop()
    return statistics.median(rates)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=6)
    ap.add_argument("--reward", default="")
    ap.add_argument("--gpu", action="store_true", help="rows: learner on CPU / on the GPU, and the pool on the GPU")
    ap.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray")
    ap.add_argument("--runners", type=int, default=4, help="EnvRunners of the --gpu rows")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config overrides for every row (e.g. rl.envs_per_env_runner=8)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_rl_"))
    base = [f"run.work_dir={work}", f"corpus.store_dir={work / 'features'}", "pool.num_cpus=0.25", "rl.env_runner_cpus=0.5"] + args.set
    cfg = load_config(overrides=base)
    write_corpus(work / "songs", n=6, seed=4242, config=SynthConfig(min_seconds=40, max_seconds=70))
    songs = list_songs(work / "songs")
    ray.init(num_cpus=args.cpus, num_gpus=1 if args.gpu else 0, include_dashboard=False, configure_logging=False, log_to_driver=False)
    analyze_corpus(songs, store=FeatureStore(cfg.corpus.store_dir), config=cfg, progress=False)
    reward = args.reward
    if not reward:
        from editor_rl.config import RewardModelConfig, RewardTrainConfig
        from editor_rl.raters.rater import SimulatedRater
        from editor_rl.raters.synthetic import make_pairs
        from editor_rl.rewards.train import train_reward_model

        an = load_corpus(songs, store=FeatureStore(cfg.corpus.store_dir), config=cfg)
        recs = make_pairs(list(an.values()), n_pairs=600, raters=[SimulatedRater(cfg.rater.feedback_taste)], config=cfg)
        scorer = train_reward_model(recs, an, model_config=RewardModelConfig(d_model=128, n_layers=2, d_ff=256), train_config=RewardTrainConfig(max_epochs=5), log=lambda m: None)
        reward = str(scorer.save(work / "reward.pt"))
    from editor_rl.rewards.pool import RewardPool

    rows = []
    if args.gpu:
        n = args.runners
        plan = ((f"dense only, {n} EnvRunners, learner on CPU", n, False, ["rl.learner_gpus=0"]),
                (f"dense only, {n} EnvRunners, learner on the GPU", n, False, ["rl.learner_gpus=1"]),
                (f"learned reward (pool on the GPU), {n} EnvRunners, learner on the GPU", n, True, ["rl.learner_gpus=1", "pool.num_gpus=0.5", "pool.num_cpus=1"]))
    else:
        plan = (("dense only, 1 EnvRunner", 1, False, []), ("learned reward, 1 EnvRunner", 1, True, []), ("learned reward, 2 EnvRunners", 2, True, []))
    for name, runners, learned, extra in plan:
        c = load_config(overrides=base + [f"rl.num_env_runners={runners}"] + extra)
        pool = RewardPool(reward, config=c.pool) if learned else None
        try:
            rows.append((name, run(c, songs, pool, args.iterations)))
        finally:
            if pool is not None:
                pool.shutdown()
    ray.shutdown()
    print("| configuration | env steps/s (median per iteration) |\n|---|---|")
    for name, rate in rows:
        print(f"| {name} | {rate:,.0f} |")
    if args.gpu:
        print(f"| learner GPU / CPU (dense) | {rows[1][1] / rows[0][1]:.2f} |")
        print(f"| learned / dense (learner on the GPU) | {rows[2][1] / rows[1][1]:.2f} |")
    else:
        print(f"| learned / dense (1 EnvRunner) | {rows[1][1] / rows[0][1]:.2f} |")
        print(f"| 2 / 1 EnvRunners (learned) | {rows[2][1] / rows[1][1]:.2f} |")


if __name__ == "__main__":
    main()
