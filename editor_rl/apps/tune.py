"""``editor-rl tune``: Ray Tune searches the reward weights; the objective is what listeners prefer.

A sweep is worth its compute only if its objective is what listeners prefer, not the learned score
PPO inflates. So every PPO trial reports ``heldout_win_rate``: its greedy edits of held-out songs
(``run.heldout_dir``) against the search baseline's, judged by panel tastes that never labelled a
training pair (``rater.judge_tastes``), beside the learned and dense returns.

The steps, in order:

1. :func:`prepare` — songs (synthesised when ``tune.synth_songs`` asks), their analysis, a reward
   model (pretrained when ``tune.pretrain_pairs`` asks) and a starting policy (behaviour cloning of the
   search, the KL reference), all shared by the trials;
2. :func:`run_sweep` — a ``tune.Tuner`` over :func:`ppo_trial` (the same algorithm ``editor-rl train``
   builds, each trial reserving its PPO's resources — RLlib's ``default_resource_request`` — plus a
   bundle for its reward pool, so nested env runners never starve), with ASHA, PBT (mutating the
   weights between checkpoints) or FIFO scheduling and a random or Optuna search; failed trials are
   retried (``tune.max_failures``) and reported; ``resume=True`` continues an interrupted sweep
   (``Tuner.restore``: finished trials are not re-run, running ones continue from their checkpoints);
3. :func:`write_outputs` — ``<work_dir>/tune/results.csv`` (a row per trial: parameters, objective,
   iterations, status), ``best.yaml`` (a config ``editor-rl train --config`` accepts) and ``tune.png``
   (the objective against each weight; trials over iterations).

``tune.level: reward`` is the cheap first level: trials fit only the dense/learned mixture (the dense
weights, ``w_learned``, ``w_dense``) to held-out human judgements (no PPO), reporting ``heldout_agreement``.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import yaml
from ray.tune import Callback

from editor_rl.config import Config, build_config, save_config
from editor_rl.errors import ConfigError, EditorRLError

_ENTRY = re.compile(r"^\s*([a-z_]+)\.([a-z_]+)\s*=\s*(uniform|loguniform|randint|choice)\((.*)\)\s*$")
METRIC = {"ppo": "heldout_win_rate", "reward": "heldout_agreement"}


def parse_space(entries) -> dict[str, tuple[str, list]]:
    """``{"section.field": (distribution, arguments)}`` of a config's ``tune.space``.

    Raises
    ------
    ConfigError
        An entry that is not ``section.field=distribution(arguments)``, names no config field, or
        has arguments of the wrong kind — the message names it.
    """
    fields = Config().to_dict()
    out = {}
    for e in entries:
        m = _ENTRY.match(e)
        if not m:
            raise ConfigError(f"tune.space entry {e!r}: expected section.field=uniform|loguniform|randint|choice(arguments)")
        section, name, dist, args = m.groups()
        if name not in fields.get(section, {}):
            raise ConfigError(f"tune.space entry {e!r}: {section}.{name} is not a config field")
        try:
            values = yaml.safe_load(f"[{args}]")
        except yaml.YAMLError:
            values = None
        if not isinstance(values, list) or (dist != "choice" and (len(values) != 2 or not all(isinstance(v, (int, float)) for v in values))):
            raise ConfigError(f"tune.space entry {e!r}: {dist} needs {'a list of values' if dist == 'choice' else 'two numbers'}")
        out[f"{section}.{name}"] = (dist, values)
    return out


def domains(space: Mapping[str, tuple[str, list]]) -> dict[str, Any]:
    """Ray Tune sampling domains of a parsed space."""
    from ray import tune

    make = {"uniform": tune.uniform, "loguniform": tune.loguniform, "randint": tune.randint, "choice": lambda *v: tune.choice(list(v))}
    return {k: make[d](*v) for k, (d, v) in space.items()}


def trial_config(base: Mapping[str, Any], params: Mapping[str, Any]) -> Config:
    """The base config (a dict of sections) with a trial's ``section.field`` values set."""
    data = {s: dict(f) for s, f in base.items()}
    for key, value in params.items():
        section, name = key.split(".", 1)
        data[section][name] = value.item() if hasattr(value, "item") else value
    return build_config(data)


def absolute_paths(config: Config) -> Config:
    """The config with its input paths made absolute (trials run in folders of their own), checked to exist.

    Raises
    ------
    EditorRLError
        ``rl.reward_checkpoint`` or ``rl.init_policy`` is given but does not exist (named).
    """
    rl = config.rl
    for field in ("reward_checkpoint", "init_policy"):
        value = getattr(rl, field)
        if value:
            if not Path(value).exists():
                raise EditorRLError(f"rl.{field} {value!r} does not exist")
            rl = replace(rl, **{field: str(Path(value).resolve())})
    return replace(config, rl=rl, run=replace(config.run, work_dir=str(Path(config.run.work_dir).resolve())),
                   corpus=replace(config.corpus, store_dir=str(Path(config.corpus.store_dir).resolve())))


def prepare(config: Config, *, say: Callable[[str], None]) -> Config:
    """Step 1: what every trial shares (see the module docstring); the config that points at it."""
    from editor_rl.audio.synth import write_corpus
    from editor_rl.corpus.store import FeatureStore, analyze_corpus, list_songs, load_corpus

    tc, work = config.tune, Path(config.run.work_dir)
    songs, validation = work / "songs", Path(config.run.heldout_dir).resolve() if config.run.heldout_dir else work / "validation"
    if not songs.is_dir():
        if not tc.synth_songs:
            raise EditorRLError(f"no training songs in {songs} (put them there, or set tune.synth_songs)")
        say(f"tune: synthesising {tc.synth_songs} training and {max(1, tc.synth_songs // 2)} validation songs")
        write_corpus(songs, n=tc.synth_songs, seed=config.run.seed, config=config.synth)
        write_corpus(validation, n=max(1, tc.synth_songs // 2), seed=config.run.seed + 20_000, config=config.synth)
    if not validation.is_dir():
        raise EditorRLError(f"no held-out songs in {validation}: the trials' objective needs songs they never train on (run.heldout_dir)")
    config = replace(config, run=replace(config.run, heldout_dir=str(validation)))  # paths are absolute already (absolute_paths)
    store = FeatureStore(config.corpus.store_dir)
    report = analyze_corpus(list_songs(songs) + list_songs(validation), store=store, config=config, progress=False)
    if report.failed:
        say(f"tune: unusable songs left out: {', '.join(sorted(report.failed))}")
    analyses = load_corpus([p for p in list_songs(songs) if p.stem not in report.failed], store=store, config=config)
    rl = config.rl
    if not rl.reward_checkpoint and tc.pretrain_pairs:
        from editor_rl.raters.rater import panel
        from editor_rl.raters.synthetic import make_pairs
        from editor_rl.rewards.train import train_reward_model

        path = work / "tune" / "reward.pt"
        if not path.is_file():
            say(f"tune: pretraining a reward model on {tc.pretrain_pairs} pairs ({', '.join(config.rater.pretrain_tastes)})")
            pairs = make_pairs(list(analyses.values()), n_pairs=tc.pretrain_pairs, raters=panel(config.rater.pretrain_tastes, seed=config.rater.seed), config=config,
                               seed=config.run.seed)
            train_reward_model(pairs, analyses, model_config=config.reward_model, train_config=config.reward_train, log=lambda m: None).save(path)
        rl = replace(rl, reward_checkpoint=str(path))
    if not rl.init_policy and tc.behaviour_clone:
        from editor_rl.rl.bc import train_bc

        bc = work / "tune" / "bc"
        if not bc.is_dir():
            say("tune: behaviour cloning the search (every trial's start and KL reference)")
            train_bc(analyses, config=config, out_dir=bc, log=lambda m: None)
        rl = replace(rl, init_policy=str(bc))
    return replace(config, rl=rl)


def ppo_trial(params: dict, *, base: dict) -> None:
    """One PPO trial (runs in a Tune trial actor): :func:`~editor_rl.rl.loop.ppo_loop`, and after every
    iteration the policy judged on the held-out songs by the unseen panel and reported, with a
    checkpoint (PBT and resume continue from it)."""
    import torch

    from editor_rl.corpus.store import FeatureStore, list_songs, load_corpus
    from editor_rl.rl.loop import ppo_loop, reward_identity

    torch.set_num_threads(1)
    cfg = trial_config(base, params)
    heldout = load_corpus(list_songs(cfg.run.heldout_dir)[: cfg.eval.max_songs], store=FeatureStore(cfg.corpus.store_dir), config=cfg)
    ppo_loop(cfg, songs=list_songs(Path(cfg.run.work_dir) / "songs"), iterations=cfg.tune.iterations, after_iteration=lambda algo, it, row: _report(algo, it, row, heldout, cfg),
             restore=lambda algo: _restore_trial(algo, reward_identity(cfg.rl.reward_checkpoint)), pool_strategy=_pool_bundle_strategy())


def _restore_trial(algo, reward_id: str) -> int:
    """Continue from Tune's checkpoint of this trial, if any (its iteration; 0 without one); the
    connector's statistics too when they belong to the trial's reward model."""
    from ray import tune

    from editor_rl.rl.connector import restore_connector_state
    from editor_rl.rl.loop import restore_checkpoint

    checkpoint = tune.get_checkpoint()
    if not checkpoint:
        return 0
    with checkpoint.as_directory() as d:
        restore_checkpoint(algo, d)
        state = json.loads((Path(d) / "trial.json").read_text())
        if state["connector"].get("reward_id") == reward_id:
            restore_connector_state(algo, state["connector"])
        return int(state["iteration"])


def _report(algo, it: int, row: dict, heldout: dict, cfg: Config) -> bool:
    """Checkpoint the trial, judge its policy by the unseen panel, report both to Tune."""
    from ray import tune

    from editor_rl.policy.load import load_policy
    from editor_rl.raters.judging import win_rate_vs_search
    from editor_rl.rl.connector import connector_state

    with tempfile.TemporaryDirectory() as d:
        algo.save_to_path(d)
        (Path(d) / "trial.json").write_text(json.dumps({"iteration": it, "connector": connector_state(algo)}))
        judged = win_rate_vs_search(load_policy(d), heldout, panel="unseen", config=cfg)
        metrics = {METRIC["ppo"]: judged.value, "judges": judged.panel, "iteration": it} | {
            k: row[k] for k in ("total_return_mean", "dense_return_mean", "learned_score_mean") if row[k] is not None}
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(d))
    return False


def reward_trial(params: dict, *, base: dict, judgements: str) -> None:
    """One trial of ``tune.level: reward``: how often the mixture ``w_learned · z(learned) + w_dense ·
    dense`` agrees with held-out judgements (no PPO)."""
    from ray import tune

    from editor_rl.corpus.store import FeatureStore, list_songs, load_corpus
    from editor_rl.preferences.records import read_preferences
    from editor_rl.rewards import dense
    from editor_rl.rewards.model import load_scorer
    from editor_rl.rewards.sequence import edit_sequence, order_of

    cfg = trial_config(base, params)
    songs = load_corpus(list_songs(Path(cfg.run.work_dir) / "songs") + list_songs(cfg.run.heldout_dir), store=FeatureStore(cfg.corpus.store_dir), config=cfg)
    records = [r for r in read_preferences(judgements) if r.preference != "tie" and r.song_id in songs]
    plans = [(songs[r.song_id], c.plan(), r.target_seconds or c.plan().duration_s) for r in records for c in (r.a, r.b)]
    learned = load_scorer(cfg.rl.reward_checkpoint).score([edit_sequence(a, p, target_seconds=t) for a, p, t in plans])[0] if cfg.rl.reward_checkpoint else np.zeros(len(plans))
    z = (learned - learned.mean()) / (learned.std() + 1e-6)
    dense_total = np.array([dense.total(dense.components(dense.song_tables(a), order_of(a, p), out_seconds=p.duration_s, target_seconds=t), cfg.reward)
                            for a, p, t in plans])
    mix = cfg.rl.w_learned * z + cfg.rl.w_dense * dense_total
    agree = [(mix[2 * i] > mix[2 * i + 1]) == (r.preference == "a") for i, r in enumerate(records)]
    tune.report({"heldout_agreement": float(np.mean(agree)) if agree else 0.0, "judgements": len(agree)})


class Progress(Callback):
    """One line per trial result, and one per failed trial."""

    def __init__(self, metric: str, say: Callable[[str], None]) -> None:
        self.metric, self.say = metric, say

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        params = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in trial.config.items())
        self.say(f"tune: trial {trial.trial_id} iteration {result.get('training_iteration')}: {self.metric} {result.get(self.metric, float('nan')):.3f} ({params})")

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self.say(f"tune: trial {trial.trial_id} failed; it is retried up to tune.max_failures times ({trial.error_file or 'no error file'})")


def _resources(config: Config):
    """A trial's reservation: RLlib's own request for its PPO, plus a bundle for its reward pool."""
    from ray.rllib.algorithms.ppo import PPO
    from ray.tune import PlacementGroupFactory

    from editor_rl.rewards.pool import pool_bundle
    from editor_rl.rl.algo import build_ppo_config

    request = PPO.default_resource_request(build_ppo_config(config, songs=[], pool=None))
    bundles = list(request.bundles) + ([pool_bundle(config.pool)] if config.rl.reward_checkpoint else [])
    return PlacementGroupFactory(bundles, strategy=request.strategy)


def _pool_bundle_strategy():
    """Inside a trial: its reward pool goes into the trial's last bundle, the one :func:`_resources`
    reserved for it (left to Ray, a pool actor can land in an env runner's bundle, and the env runner
    then waits forever for room)."""
    from ray.util import get_current_placement_group
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    pg = get_current_placement_group()
    return PlacementGroupSchedulingStrategy(pg, placement_group_bundle_index=len(pg.bundle_specs) - 1) if pg else None


def default_point(config: Config) -> dict[str, Any]:
    """The config's own values of the searched fields (``{"section.field": value}``)."""
    data = config.to_dict()
    return {key: data[key.split(".")[0]][key.split(".", 1)[1]] for key in parse_space(config.tune.space)}


def run_sweep(config: Config, *, resume: bool, judgements: str | None, say: Callable[[str], None]):
    """Step 2: the Tuner (or its restoration); returns the ResultGrid."""
    from ray import tune

    tc = config.tune
    metric = METRIC[tc.level]
    space = parse_space(tc.space)
    storage = Path(config.run.work_dir).resolve() / "tune" / "ray_results"
    base = config.to_dict()
    if tc.level == "ppo":
        trainable = tune.with_resources(tune.with_parameters(ppo_trial, base=base), _resources(config))
    else:
        if not judgements:
            raise EditorRLError("tune.level reward needs held-out judgements (--judgements FILE, JSONL or Parquet)")
        trainable = tune.with_resources(tune.with_parameters(reward_trial, base=base, judgements=str(Path(judgements).resolve())), {"CPU": 1})
    path = storage / "sweep"
    if resume:
        if not tune.Tuner.can_restore(str(path)):
            raise EditorRLError(f"--resume: no sweep to resume in {path}")
        say(f"tune: resuming the sweep in {path}")
        tuner = tune.Tuner.restore(str(path), trainable=trainable, resume_unfinished=True, resume_errored=True)
    else:
        if tc.scheduler == "asha":
            scheduler = tune.schedulers.ASHAScheduler(time_attr="training_iteration", max_t=tc.iterations, grace_period=1)
        elif tc.scheduler == "pbt":
            scheduler = tune.schedulers.PopulationBasedTraining(time_attr="training_iteration", perturbation_interval=1, hyperparam_mutations=domains(space))
        else:
            scheduler = tune.schedulers.FIFOScheduler()
        first = [default_point(config)] if tc.include_default else None
        if tc.search == "optuna":
            from ray.tune.search.optuna import OptunaSearch

            search = OptunaSearch(seed=tc.seed, points_to_evaluate=first)
        else:
            from ray.tune.search.basic_variant import BasicVariantGenerator

            search = BasicVariantGenerator(points_to_evaluate=first, random_state=tc.seed)
        tuner = tune.Tuner(
            trainable, param_space=domains(space),
            tune_config=tune.TuneConfig(metric=metric, mode="max", num_samples=tc.trials, scheduler=scheduler, search_alg=search,
                                        max_concurrent_trials=tc.max_concurrent),
            run_config=tune.RunConfig(name="sweep", storage_path=str(storage), failure_config=tune.FailureConfig(max_failures=tc.max_failures),
                                      checkpoint_config=tune.CheckpointConfig(num_to_keep=2), callbacks=[Progress(metric, say)], verbose=0),
        )
    return tuner.fit()


def write_outputs(results, config: Config, *, say: Callable[[str], None]) -> dict:
    """Step 3: results.csv, best.yaml and tune.png under ``<work_dir>/tune``."""
    import csv

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric = METRIC[config.tune.level]
    folder = Path(config.run.work_dir) / "tune"
    keys = list(parse_space(config.tune.space))
    rows, curves = [], []
    default = default_point(config) if config.tune.include_default else None
    for r in results:
        hist = r.metrics_dataframe if r.metrics_dataframe is not None else None
        values = [float(v) for v in hist[metric]] if hist is not None and metric in hist else []
        rows.append({"trial": (r.metrics or {}).get("trial_id", r.path.rsplit("/", 1)[-1] if r.path else "?"), **{k: r.config.get(k) for k in keys},
                     metric: max(values) if values else None, "last_" + metric: values[-1] if values else None, "iterations": len(values),
                     "status": "ERROR" if r.error else "TERMINATED", "error": str(r.error).splitlines()[0] if r.error else "",
                     "default": default is not None and all(np.isclose(float(r.config.get(k)), float(v)) if isinstance(v, (int, float)) else r.config.get(k) == v
                                                            for k, v in default.items())})
        curves.append(values)
    with open(folder / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    ok = [r for r in rows if r[metric] is not None]
    if not ok:
        raise EditorRLError(f"every trial failed; see {folder / 'results.csv'}")
    best = max(ok, key=lambda r: r[metric])
    best_config = trial_config(config.to_dict(), {k: best[k] for k in keys})
    save_config(replace(best_config, tune=config.tune), folder / "best.yaml")
    fig, axes = plt.subplots(1, len(keys) + 1, figsize=(3.2 * (len(keys) + 1), 3), squeeze=False)
    for ax, k in zip(axes[0], keys):
        ax.scatter([r[k] for r in ok], [r[metric] for r in ok])
        ax.set_xlabel(k)
        ax.set_ylabel(metric)
    for c in curves:
        axes[0][-1].plot(range(1, len(c) + 1), c, marker="o")
    axes[0][-1].set_xlabel("iteration")
    axes[0][-1].set_title("trials")
    fig.tight_layout()
    fig.savefig(folder / "tune.png", dpi=100)
    plt.close(fig)
    say(f"tune: best trial {best['trial']}: {metric} {best[metric]:.3f} → {folder / 'best.yaml'}")
    base = [r for r in ok if r["default"]]
    if base:
        say(f"tune: the config's own weights: {metric} {base[0][metric]:.3f} (best − default: {best[metric] - base[0][metric]:+.3f})")
    return {"results": str(folder / "results.csv"), "best": str(folder / "best.yaml"), "plot": str(folder / "tune.png"), "best_trial": best, "trials": rows}


def run_tune(config: Config, *, resume: bool = False, judgements: str | None = None, log: Callable[[str], None] | None = None) -> dict:
    """A whole sweep (see the module docstring); returns what it wrote and found."""
    from editor_rl.config.raysession import ensure_ray

    say = log or (lambda m: print(m, flush=True, file=sys.stdout))
    parse_space(config.tune.space)  # a bad space fails before anything starts
    config = absolute_paths(config)
    ensure_ray(num_cpus=config.run.num_cpus)
    config = prepare(config, say=say) if config.tune.level == "ppo" else config
    (Path(config.run.work_dir) / "tune").mkdir(parents=True, exist_ok=True)
    return write_outputs(run_sweep(config, resume=resume, judgements=judgements, say=say), config, say=say)
