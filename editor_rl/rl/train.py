"""``editor-rl train``: PPO with a progress line per iteration, checkpoints, resume and history.

Work goes under ``run.work_dir``: ``checkpoints/iter_NNNN/`` every ``rl.checkpoint_every``
iterations and at the end (``Algorithm.save_to_path``), ``checkpoints/latest.json`` naming the
newest, ``checkpoints/best/`` (the checkpoint with the highest mean learned-reward score so far, or
the highest dense return without a reward model), ``history.json`` (one row per iteration) and
``tensorboard/`` (the same figures as TensorBoard scalars: ``tensorboard --logdir <work_dir>``).
``resume=True`` restores the newest checkpoint and continues to ``rl.iterations``. Runs on a local
Ray or on any cluster (``RAY_ADDRESS``).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

from editor_rl.config import Config
from editor_rl.corpus import FeatureStore, analyze_corpus, list_songs
from editor_rl.errors import EditorRLError
from editor_rl.raysession import ensure_ray


def _atomic_json(path: Path, data) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def _row(it: int, result: dict, seconds: float) -> dict:
    """One history row from an ``Algorithm.train()`` result."""
    er = result.get("env_runners", {})
    learners = result.get("learners", {})
    module = learners.get("default_policy", {})
    return {
        "iteration": it,
        "return_mean": er.get("episode_return_mean"),  # the env's (dense) return, as sampled
        "episode_len_mean": er.get("episode_len_mean"),
        "total_return_mean": learners.get("total_return_mean"),  # what PPO optimises: dense, learned and KL parts together
        "dense_return_mean": learners.get("dense_return_mean"),
        "learned_score_mean": learners.get("learned_score_raw_mean"),  # the reward model's raw score
        "kl_to_reference": learners.get("kl_to_reference_mean"),
        "policy_loss": module.get("policy_loss"),
        "vf_loss": module.get("vf_loss"),
        "entropy": module.get("entropy"),
        "env_steps": er.get("num_env_steps_sampled_lifetime"),
        "env_runner_restarts": result.get("fault_tolerance", {}).get("num_remote_worker_restarts"),
        "seconds": round(seconds, 2),
    }


def _set_policy(algo, state: dict) -> None:
    """Put a module state on the learners and on every EnvRunner, before the first iteration.

    ``EnvRunnerGroup.sync_weights`` does not reach the EnvRunners here (RLlib 2.60: their copy stays
    at its initial weights until the first training step's own sync; checked by comparing
    weights), so the first iteration would sample with an untrained policy. Setting the state on
    each EnvRunner directly does.
    """
    algo.learner_group.foreach_learner(lambda learner: learner.module["default_policy"].set_state(state))
    algo.env_runner_group.foreach_env_runner(lambda runner: runner.module.set_state(state), local_env_runner=True)


def _objective(row: dict) -> float:
    """What "best" means: the learned reward's mean score when there is one, else the dense return."""
    v = row.get("learned_score_mean")
    v = row.get("return_mean") if v is None else v
    return float("-inf") if v is None else float(v)


def _freeze_policy(algo, frozen: bool) -> None:
    """Freeze (or thaw) the actor's encoder and head on every learner: a value-function warm-up.

    A policy started from behaviour cloning comes with an untrained value head; PPO's first
    advantages would then be noise and drag the policy away from the competent start.
    """

    def apply(learner) -> None:
        m = learner.module["default_policy"]
        for p in list(m.encoder.actor_encoder.parameters()) + list(m.pi.parameters()):
            p.requires_grad_(not frozen)

    algo.learner_group.foreach_learner(apply)


def train(config: Config, *, resume: bool = False, songs_dir: str | None = None, log: Callable[[str], None] | None = None) -> dict:
    """Train a policy; returns ``{"checkpoint": latest, "best": best, "history": rows}``.

    Parameters
    ----------
    config : Config
    resume : bool
        Continue from ``checkpoints/latest.json`` if it exists.
    songs_dir : str or None
        Training songs (default ``<run.work_dir>/songs``); analysed into the store if needed.
    log : callable or None
        Receives one progress line per iteration (default: stdout).
    """
    say = log or (lambda m: print(m, flush=True, file=sys.stdout))
    work = Path(config.run.work_dir)
    ckpt_dir = work / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    songs = list_songs(songs_dir or work / "songs")
    if not songs:
        raise EditorRLError(f"no songs to train on in {songs_dir or work / 'songs'}")
    ensure_ray(num_cpus=config.run.num_cpus)
    from editor_rl.rewards.pool import RewardPool
    from editor_rl.rl.algo import build_ppo_config

    store = FeatureStore(config.corpus.store_dir)
    report = analyze_corpus(songs, store=store, config=config, progress=False)
    if report.failed:
        songs = [p for p in songs if p.stem not in report.failed]
        say(f"train: skipping {len(report.failed)} unusable songs: {', '.join(sorted(report.failed))}")
    history_path = work / "history.json"
    history: list[dict] = []
    start = 0
    latest_ptr = ckpt_dir / "latest.json"
    latest = json.loads(latest_ptr.read_text()) if resume and latest_ptr.is_file() else None
    if latest:  # a resumed run draws new songs and targets, not a replay of the first iterations
        config = replace(config, rl=replace(config.rl, seed=config.rl.seed + 1000 * int(latest["iteration"])))
    pool = RewardPool(config.rl.reward_checkpoint, config=config.pool) if config.rl.reward_checkpoint else None
    algo = build_ppo_config(config, songs=songs, pool=pool).build_algo()
    if latest is None and config.rl.init_policy:
        from editor_rl.rl.policy import load_policy

        _set_policy(algo, load_policy(config.rl.init_policy).get_state())
        say(f"train: starting from the policy in {config.rl.init_policy}")
    if latest:
        algo.restore_from_path(latest["path"])
        # The EnvRunners may still hold their initial weights: give them the restored policy now,
        # or the first iteration after a resume samples with an untrained one.
        first = list(algo.learner_group.foreach_learner(lambda learner: learner.module["default_policy"].get_state()))[0]
        _set_policy(algo, first if isinstance(first, dict) else first.get())
        start = int(latest["iteration"])
        history = json.loads(history_path.read_text())[:start] if history_path.is_file() else []
        say(f"train: resumed from {latest['path']} at iteration {start}")
    best = max((_objective(r) for r in history), default=float("-inf"))
    latest_path = Path(latest["path"]) if latest else None
    from tensorboardX import SummaryWriter

    tb = SummaryWriter(str(work / "tensorboard"), purge_step=start + 1 if start else None)
    try:
        for it in range(start + 1, config.rl.iterations + 1):
            if config.rl.init_policy and it in (1, config.rl.vf_warmup_iterations + 1):
                _freeze_policy(algo, it <= config.rl.vf_warmup_iterations)
            t0 = time.time()
            row = _row(it, algo.train(), time.time() - t0)
            history.append(row)
            _atomic_json(history_path, history)
            for key, value in row.items():
                if key not in ("iteration", "seconds") and isinstance(value, (int, float)):
                    tb.add_scalar(f"train/{key}", value, it)
            tb.flush()
            fmt = lambda v: "   n/a" if v is None else f"{v:6.3f}"  # noqa: E731
            say(f"iter {it:4d}/{config.rl.iterations}: return {fmt(row['return_mean'])} dense {fmt(row['dense_return_mean'])} "
                f"learned {fmt(row['learned_score_mean'])} len {fmt(row['episode_len_mean'])} policy_loss {fmt(row['policy_loss'])} "
                f"vf_loss {fmt(row['vf_loss'])} kl_ref {fmt(row['kl_to_reference'])} steps {row['env_steps']} ({row['seconds']:.1f} s)")
            if it % config.rl.checkpoint_every == 0 or it == config.rl.iterations:
                latest_path = ckpt_dir / f"iter_{it:04d}"
                algo.save_to_path(str(latest_path.resolve()))
                _atomic_json(latest_ptr, {"iteration": it, "path": str(latest_path.resolve())})
                ret = _objective(row)
                if ret >= best:
                    best = ret
                    tmp = ckpt_dir / ".best.tmp"
                    shutil.rmtree(tmp, ignore_errors=True)
                    shutil.copytree(latest_path, tmp)
                    shutil.rmtree(ckpt_dir / "best", ignore_errors=True)
                    os.replace(tmp, ckpt_dir / "best")
    finally:
        tb.close()
        algo.stop()
        if pool is not None:
            pool.shutdown()
    return {"checkpoint": str(latest_path) if latest_path else None, "best": str(ckpt_dir / "best"), "history": history}
