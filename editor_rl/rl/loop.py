"""The one PPO run loop: ``editor-rl train``, Tune's trials and the RLHF cycle all run PPO through
:func:`ppo_loop`.

It builds PPO with the learned reward in the loop (a :class:`~editor_rl.rewards.pool.RewardPool`
when ``rl.reward_checkpoint`` is set), restores a checkpoint or starts from ``rl.init_policy``,
warms the value function up with the policy frozen (``rl.vf_warmup_iterations``), and after every
iteration hands a history row to the caller, which checkpoints, judges, reports and says when to
stop. The actors are stopped however the loop ends.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from editor_rl.audio.analysis import file_hash
from editor_rl.config import Config


def reward_identity(path: str) -> str:
    """``name@hash`` of a reward checkpoint ("" for none): what the learned reward of a history row came from."""
    return f"{Path(path).name}@{file_hash(path)}" if path else ""


def history_row(it: int, result: dict, seconds: float, reward_id: str) -> dict:
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
        "reward_checkpoint": reward_id,
        "edits_scored": learners.get("edits_scored"),
        "reward_stats_count": learners.get("reward_stats_count"),
        "kl_to_reference": learners.get("kl_to_reference_mean"),
        "policy_loss": module.get("policy_loss"),
        "vf_loss": module.get("vf_loss"),
        "entropy": module.get("entropy"),
        "env_steps": er.get("num_env_steps_sampled_lifetime"),
        "env_runner_restarts": result.get("fault_tolerance", {}).get("num_remote_worker_restarts"),
        "heldout_win_rate": None,  # filled in at checkpoints: policy vs search, judged by …
        "judges": None,  # … this panel (editor_rl.raters.judging.PANELS)
        "seconds": round(seconds, 2),
    }


def set_policy(algo, state: dict) -> None:
    """Put a module state on the learners and on every EnvRunner, before the first iteration.

    ``EnvRunnerGroup.sync_weights`` does not reach the EnvRunners here (RLlib 2.60: their copy stays
    at its initial weights until the first training step's own sync; checked by comparing
    weights), so the first iteration would sample with an untrained policy. Setting the state on
    each EnvRunner directly does.
    """
    algo.learner_group.foreach_learner(lambda learner: learner.module["default_policy"].set_state(state))
    algo.env_runner_group.foreach_env_runner(lambda runner: runner.module.set_state(state), local_env_runner=True)


def freeze_policy(algo, frozen: bool) -> None:
    """Freeze (or thaw) the actor's encoder and head on every learner: a value-function warm-up.

    A policy started from behaviour cloning comes with an untrained value head; PPO's first
    advantages would then be noise and drag the policy away from the competent start.
    """

    def apply(learner) -> None:
        m = learner.module["default_policy"]
        for p in list(m.encoder.actor_encoder.parameters()) + list(m.pi.parameters()):
            p.requires_grad_(not frozen)

    algo.learner_group.foreach_learner(apply)


def sync_policy(algo) -> None:
    """Give the EnvRunners the learners' policy (after a restore, before the first iteration)."""
    first = list(algo.learner_group.foreach_learner(lambda learner: learner.module["default_policy"].get_state()))[0]
    set_policy(algo, first if isinstance(first, dict) else first.get())


def restore_checkpoint(algo, path: str | Path) -> None:
    """Load an Algorithm checkpoint and give the EnvRunners its policy: they may still hold their
    initial weights, and the first iteration after a restore would sample with an untrained one."""
    algo.restore_from_path(str(path))
    sync_policy(algo)


def ppo_loop(config: Config, *, songs: list[Path], iterations: int, after_iteration: Callable[[object, int, dict], bool],
             restore: Callable[[object], int] | None = None, pool_strategy=None) -> None:
    """Run PPO from where ``restore`` left it to ``iterations`` (see the module docstring).

    Parameters
    ----------
    config : Config
    songs : list of Path
        Training songs (analysed, in the feature store).
    iterations : int
        The last iteration to run.
    after_iteration : callable
        ``after_iteration(algo, it, row) -> stop``, with ``row`` from :func:`history_row`.
    restore : callable or None
        ``restore(algo) -> iteration`` restores a checkpoint and returns its iteration (0: nothing
        to restore, the run starts from ``rl.init_policy`` if set).
    pool_strategy : optional
        The reward pool's Ray scheduling strategy (a Tune trial's placement-group bundle).
    """
    from editor_rl.policy.load import load_policy
    from editor_rl.rewards.pool import RewardPool
    from editor_rl.rl.algo import build_ppo_config

    rl = config.rl
    reward_id = reward_identity(rl.reward_checkpoint)
    pool = RewardPool(rl.reward_checkpoint, config=config.pool, scheduling_strategy=pool_strategy) if rl.reward_checkpoint else None
    algo = build_ppo_config(config, songs=songs, pool=pool, reward_id=reward_id).build_algo()
    try:
        start = restore(algo) if restore else 0
        if not start and rl.init_policy:
            set_policy(algo, load_policy(rl.init_policy).get_state())
        for it in range(start + 1, iterations + 1):
            if rl.init_policy and it in (start + 1, rl.vf_warmup_iterations + 1):
                freeze_policy(algo, it <= rl.vf_warmup_iterations)
            t0 = time.time()
            row = history_row(it, algo.train(), time.time() - t0, reward_id)
            if after_iteration(algo, it, row):
                break
    finally:
        algo.stop()
        if pool is not None:
            pool.shutdown()
