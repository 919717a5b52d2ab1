"""``editor-rl train``: PPO with a progress line per iteration, checkpoints, honest resume and model choice.

Work goes under ``run.work_dir``:

- ``run_config.yaml``: the resolved config the run started with. ``resume=True`` refuses a config
  that differs from it except in :data:`RESUMABLE` fields (more iterations, other resources), so a
  resumed run trains against the same reward, with the same reference policy, as it began;
- ``checkpoints/iter_NNNN/`` every ``rl.checkpoint_every`` iterations and at the end
  (``Algorithm.save_to_path``) plus ``connector.json``: the learned-reward connector's running
  statistics and the reward checkpoint they belong to (RLlib's learner checkpoints do not carry a
  connector's state); ``checkpoints/latest.json`` names the newest;
- ``checkpoints/best/`` and ``best.json``: the checkpoint whose greedy edits of held-out songs
  (``run.heldout_dir``) the held-out judges prefer most often to the search's — never the learned
  score PPO over-optimises. Without held-out songs, ``best`` is the latest checkpoint (and says so);
- ``history.json`` (one row per iteration, each naming the reward checkpoint it was scored with)
  and ``tensorboard/`` (the same figures as scalars).

Runs on a local Ray or on any cluster (``RAY_ADDRESS``).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Collection, Mapping, NamedTuple

from editor_rl.config import Config, RunConfig, build_config, config_diff, load_config, save_config
from editor_rl.config.atomic import write_text_atomic
from editor_rl.corpus.store import FeatureStore, analyze_corpus, list_songs, load_corpus
from editor_rl.errors import ConfigError, EditorRLError
from editor_rl.config.raysession import ensure_ray
from editor_rl.rl.loop import ppo_loop, restore_checkpoint, reward_identity

RESUMABLE = frozenset({"rl.iterations", "rl.checkpoint_every", "rl.num_env_runners", "rl.envs_per_env_runner", "rl.env_runner_cpus",
                       "rl.restart_delay_s", "rl.learner_gpus", "run.num_cpus", "pool.num_actors", "pool.num_cpus", "pool.num_gpus", "pool.max_batch", "pool.gpu_max_batch",
                       "pool.max_wait_ms", "pool.timeout_s", "pool.max_retries", "pool.max_restarts", "eval.max_songs"})
"""Fields a resumed run may change: how long it trains and with what resources, not what it learns."""


class RunPaths(NamedTuple):
    """Where a training run keeps its files."""

    work: Path
    checkpoints: Path
    config: Path
    history: Path
    latest: Path
    best: Path
    best_record: Path

    @classmethod
    def of(cls, config: Config) -> "RunPaths":
        w = Path(config.run.work_dir)
        c = w / "checkpoints"
        return cls(w, c, w / "run_config.yaml", w / "history.json", c / "latest.json", c / "best", c / "best.json")


def resolve_resume(config: Config, paths: RunPaths, *, allow_changes: Collection[str] = ()) -> None:
    """Check that ``config`` may resume the run saved in ``paths`` (see :data:`RESUMABLE`).

    Raises
    ------
    ConfigError
        A field differs from the run's own config; the message names it and both values.
    """
    if not paths.config.is_file():
        return
    saved = load_config(paths.config)
    for name, was, now in config_diff(saved, config):
        if name not in RESUMABLE and name not in allow_changes:
            raise ConfigError(f"{name}={now!r}: the run in {paths.work} was started with {was!r}; resume with the same value "
                              f"(or leave it out), or start a new run in another run.work_dir")


def resumed_config(explicit: Mapping[str, Any]) -> Config:
    """The config to resume a run with: the run's own saved config, with the fields given explicitly
    (a ``--config`` file, ``--set`` overrides) on top — :func:`train` then refuses any of those that
    conflict with the run (see :data:`RESUMABLE`). A run not started yet takes ``explicit`` as is."""
    run = explicit.get("run") or {}
    saved = Path(run.get("work_dir") or RunConfig().work_dir) / "run_config.yaml"
    if not saved.is_file():
        return build_config(explicit)
    data = load_config(saved).to_dict()
    for section, fields in explicit.items():
        data[section] = {**data.get(section, {}), **fields} if isinstance(fields, Mapping) else fields
    return build_config(data)


CPU_WAIT_S = 30.0


def check_cpus(config: Config, say: Callable[[str], None], *, wait_s: float = CPU_WAIT_S) -> None:
    """Refuse a run this Ray can never place, instead of waiting for it forever.

    The EnvRunners and the reward pool need ``rl.num_env_runners × rl.env_runner_cpus +
    pool.num_actors × pool.num_cpus`` CPUs. Actors of a run that just stopped may take a moment to
    give theirs back, so this waits up to ``wait_s`` for them. Joined to a cluster (``RAY_ADDRESS``),
    the autoscaler may add nodes: there a shortfall is a log line, not an error.

    Raises
    ------
    EditorRLError
        A local Ray without the CPUs free (a service on the same Ray holds some, or ``run.num_cpus``
        is too small); the message names the fields to lower.
    """
    import ray

    need = config.rl.num_env_runners * config.rl.env_runner_cpus + (config.pool.num_actors * config.pool.num_cpus if config.rl.reward_checkpoint else 0.0)
    deadline = time.monotonic() + wait_s
    free = ray.available_resources().get("CPU", 0.0)
    while free + 1e-9 < need and time.monotonic() < deadline:
        time.sleep(0.5)
        free = ray.available_resources().get("CPU", 0.0)
    if free + 1e-9 >= need:
        return
    what = (f"the run's actors need {need:g} CPUs (rl.num_env_runners={config.rl.num_env_runners} × rl.env_runner_cpus={config.rl.env_runner_cpus:g}"
            + (f" + pool.num_actors={config.pool.num_actors} × pool.num_cpus={config.pool.num_cpus:g}" if config.rl.reward_checkpoint else "")
            + f") and Ray has {free:g} of {ray.cluster_resources().get('CPU', 0.0):g} free")
    if os.environ.get("RAY_ADDRESS"):
        say(f"train: waiting for the cluster to grow: {what}")
        return
    raise EditorRLError(f"{what}; lower those fields or give Ray more CPUs (run.num_cpus)")


def _atomic_json(path: Path, data) -> None:
    write_text_atomic(path, json.dumps(data, indent=1))


def prepare_songs(config: Config, songs_dir: str | Path, say: Callable[[str], None]) -> list[Path]:
    """The training songs, analysed into the feature store (unusable ones reported and left out)."""
    songs = list_songs(songs_dir)
    if not songs:
        raise EditorRLError(f"no songs to train on in {songs_dir}")
    report = analyze_corpus(songs, store=FeatureStore(config.corpus.store_dir), config=config, progress=False)
    if report.failed:
        say(f"train: skipping {len(report.failed)} unusable songs: {', '.join(sorted(report.failed))}")
    return [p for p in songs if p.stem not in report.failed]


def heldout_songs(config: Config, paths: RunPaths, say: Callable[[str], None]) -> dict:
    """The songs the held-out judges edit at every checkpoint (``run.heldout_dir``, else ``<work_dir>/validation``)."""
    folder = Path(config.run.heldout_dir) if config.run.heldout_dir else paths.work / "validation"
    if not folder.is_dir():
        say(f"train: no held-out songs ({folder} does not exist): checkpoints/best will be the latest checkpoint")
        return {}
    songs = list_songs(folder)[: config.eval.max_songs]
    return load_corpus(songs, store=FeatureStore(config.corpus.store_dir), config=config)


def _restore(algo, latest: dict, reward_id: str, say: Callable[[str], None]) -> int:
    """Load the latest checkpoint and give the connector its statistics; returns its iteration."""
    from editor_rl.rl.connector import restore_connector_state

    restore_checkpoint(algo, latest["path"])
    say(f"train: resumed from {latest['path']} at iteration {latest['iteration']}")
    saved = Path(latest["path"]) / "connector.json"
    if saved.is_file():
        state = json.loads(saved.read_text())
        if state.get("reward_id") == reward_id:
            restore_connector_state(algo, state)
            say(f"train: restored the learned-reward statistics ({state['count']} edits scored by {reward_id or 'no reward model'})")
        else:
            say(f"train: the reward model changed ({state.get('reward_id') or 'none'} → {reward_id or 'none'}): its statistics start afresh")
    return int(latest["iteration"])


def _save(algo, it: int, paths: RunPaths) -> Path:
    """Checkpoint the algorithm and the connector's state; point latest.json at it."""
    from editor_rl.rl.connector import connector_state

    path = paths.checkpoints / f"iter_{it:04d}"
    algo.save_to_path(str(path.resolve()))
    _atomic_json(path / "connector.json", connector_state(algo))
    _atomic_json(paths.latest, {"iteration": it, "path": str(path.resolve())})
    return path


def _promote(path: Path, paths: RunPaths, record: dict) -> None:
    """Make ``path`` the run's ``checkpoints/best`` (copied, then swapped in atomically)."""
    tmp = paths.checkpoints / ".best.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(path, tmp)
    shutil.rmtree(paths.best, ignore_errors=True)
    os.replace(tmp, paths.best)
    _atomic_json(paths.best_record, record)


def _progress_line(row: dict, iterations: int) -> str:
    fmt = lambda v: "   n/a" if v is None else f"{v:6.3f}"  # noqa: E731
    return (f"iter {row['iteration']:4d}/{iterations}: return {fmt(row['return_mean'])} dense {fmt(row['dense_return_mean'])} "
            f"learned {fmt(row['learned_score_mean'])} len {fmt(row['episode_len_mean'])} policy_loss {fmt(row['policy_loss'])} "
            f"vf_loss {fmt(row['vf_loss'])} kl_ref {fmt(row['kl_to_reference'])} steps {row['env_steps']} ({row['seconds']:.1f} s)"
            + ("" if row["heldout_win_rate"] is None else f" held-out win rate vs search {row['heldout_win_rate']:.2f} ({row['judges']})"))


class _Run:
    """What :func:`train` does after every PPO iteration: the history, checkpoints judged on the
    held-out songs, ``best``, TensorBoard and a progress line."""

    def __init__(self, config: Config, paths: RunPaths, *, heldout: dict, history: list[dict], latest: dict | None,
                 stop_when: Callable[[list[dict]], bool] | None, say: Callable[[str], None]) -> None:
        from tensorboardX import SummaryWriter

        self.config, self.paths, self.heldout, self.history, self.stop_when, self.say = config, paths, heldout, history, stop_when, say
        self.latest_path = Path(latest["path"]) if latest else None
        self.best = max((r["heldout_win_rate"] for r in history if r.get("heldout_win_rate") is not None), default=float("-inf"))
        start = int(latest["iteration"]) if latest else 0
        self.tb = SummaryWriter(str(paths.work / "tensorboard"), purge_step=start + 1 if start else None)

    def after_iteration(self, algo, it: int, row: dict) -> bool:
        self.history.append(row)
        _atomic_json(self.paths.history, self.history)  # before the checkpoint: a resume never finds fewer rows than iterations
        stop = self.stop_when is not None and self.stop_when(self.history)
        if it % self.config.rl.checkpoint_every == 0 or it == self.config.rl.iterations or stop:
            self._checkpoint(algo, it, row)
        for key, value in row.items():
            if key not in ("iteration", "seconds") and isinstance(value, (int, float)) and not isinstance(value, bool):
                self.tb.add_scalar(f"train/{key}", value, it)
        self.tb.flush()
        self.say(_progress_line(row, self.config.rl.iterations))
        if stop:
            self.say(f"train: stopping after iteration {it} (stop condition met)")
        return stop

    def _checkpoint(self, algo, it: int, row: dict) -> None:
        """Save, judge on the held-out songs, and promote to ``best`` when the judges like it best so far."""
        from editor_rl.policy.load import load_policy
        from editor_rl.raters.judging import win_rate_vs_search

        self.latest_path = _save(algo, it, self.paths)
        if self.heldout:
            judged = win_rate_vs_search(load_policy(self.latest_path), self.heldout, panel="heldout", config=self.config)
            row["heldout_win_rate"], row["judges"] = judged.value, judged.panel
            _atomic_json(self.paths.history, self.history)
        if not self.heldout or row["heldout_win_rate"] >= self.best:
            self.best = row["heldout_win_rate"] if self.heldout else self.best
            _promote(self.latest_path, self.paths, {"iteration": it, "path": str(self.latest_path), "heldout_win_rate": row["heldout_win_rate"],
                                                    "judges": row.get("judges"), "heldout_songs": sorted(self.heldout), "reward_checkpoint": row["reward_checkpoint"]})

    def close(self) -> None:
        self.tb.close()


def train(config: Config, *, resume: bool = False, songs_dir: str | None = None, log: Callable[[str], None] | None = None,
          allow_changes: Collection[str] = (), stop_when: Callable[[list[dict]], bool] | None = None) -> dict:
    """Train a policy; returns ``{"checkpoint": latest, "best": best, "history": rows}``.

    Parameters
    ----------
    config : Config
    resume : bool
        Continue from ``checkpoints/latest.json`` if it exists (the config must match the run's own).
    songs_dir : str or None
        Training songs (default ``<run.work_dir>/songs``); analysed into the store if needed.
    log : callable or None
        Receives one progress line per iteration (default: stdout).
    allow_changes : collection of str
        Fields besides :data:`RESUMABLE` that this resume may change (an RLHF round passes
        ``rl.reward_checkpoint``: the policy trains on against a fine-tuned reward model).
    stop_when : callable or None
        Called with the history after every iteration; True checkpoints and stops early.

    Raises
    ------
    ConfigError
        ``resume`` with a config that conflicts with the run's own.
    """
    say = log or (lambda m: print(m, flush=True, file=sys.stdout))
    paths = RunPaths.of(config)
    if resume:
        resolve_resume(config, paths, allow_changes=allow_changes)
    paths.checkpoints.mkdir(parents=True, exist_ok=True)
    ensure_ray(num_cpus=config.run.num_cpus)
    songs = prepare_songs(config, songs_dir or paths.work / "songs", say)
    heldout = heldout_songs(config, paths, say)
    latest = json.loads(paths.latest.read_text()) if resume and paths.latest.is_file() else None
    save_config(config, paths.config)
    check_cpus(config, say)
    history = json.loads(paths.history.read_text())[: int(latest["iteration"])] if latest and paths.history.is_file() else []
    seeded = config
    if latest:  # a resumed run draws new songs and targets, not a replay of the first iterations
        seeded = replace(config, rl=replace(config.rl, seed=config.rl.seed + 1000 * int(latest["iteration"])))
    elif config.rl.init_policy:
        say(f"train: starting from the policy in {config.rl.init_policy}")
    run = _Run(config, paths, heldout=heldout, history=history, latest=latest, stop_when=stop_when, say=say)
    reward_id = reward_identity(config.rl.reward_checkpoint)
    try:
        ppo_loop(seeded, songs=songs, iterations=config.rl.iterations, after_iteration=run.after_iteration,
                 restore=(lambda algo: _restore(algo, latest, reward_id, say)) if latest else None)
    finally:
        run.close()
    return {"checkpoint": str(run.latest_path) if run.latest_path else None, "best": str(paths.best), "history": history}
