"""Config sections for learning: the reward model and its training, the simulated raters, the reward pool and PPO."""

from __future__ import annotations

from dataclasses import dataclass

from editor_rl.config.checks import check as _check


@dataclass(frozen=True)
class RewardModelConfig:
    """The reward model: ``ensemble`` independent transformers over bar-sized tokens plus an explicit
    path of edit descriptors (``editor_rl.rewards.model``). The embedded (quickstart) defaults train in
    well under a minute on 2 cores; ``configs/default.yaml`` has the seeds' size (3 layers, 4 heads,
    d = 256, ff 1024) with 5 members."""

    d_model: int = 32
    """Width of each member's transformer."""
    n_layers: int = 2
    """Encoder layers."""
    n_heads: int = 4
    """Attention heads."""
    d_ff: int = 64
    """Feed-forward width."""
    dropout: float = 0.1
    """Dropout in the encoder."""
    ensemble: int = 3
    """Independent members (each on its own bootstrap sample); their spread is the score's uncertainty."""
    max_beats: int = 500
    """Longest sequence scored at once; longer edits are scored in chunks (length-weighted mean)."""
    beats_per_token: int = 4
    """Output beats per transformer token (4: one 4/4 bar; their features and actions are concatenated)."""

    def __post_init__(self) -> None:
        _check(self.d_model >= 8 and self.d_model % self.n_heads == 0, "reward_model.d_model", self.d_model, "must be >= 8 and divisible by n_heads")
        _check(1 <= self.n_layers <= 24, "reward_model.n_layers", self.n_layers, "must be in [1, 24]")
        _check(self.n_heads >= 1, "reward_model.n_heads", self.n_heads, "must be >= 1")
        _check(self.d_ff >= 8, "reward_model.d_ff", self.d_ff, "must be >= 8")
        _check(0 <= self.dropout < 1, "reward_model.dropout", self.dropout, "must be in [0, 1)")
        _check(1 <= self.ensemble <= 32, "reward_model.ensemble", self.ensemble, "must be in [1, 32]")
        _check(16 <= self.max_beats <= 4096, "reward_model.max_beats", self.max_beats, "must be in [16, 4096]")
        _check(1 <= self.beats_per_token <= 16, "reward_model.beats_per_token", self.beats_per_token, "must be in [1, 16]")


@dataclass(frozen=True)
class RewardTrainConfig:
    """Bradley–Terry training of the reward model, fit for 30 judgements as for 5 000: it trains until
    the validation loss stops improving (the learning rate halves on a plateau), never a fixed count."""

    lr: float = 1e-3
    """AdamW learning rate of the transformers (halved whenever validation stalls for ``patience`` // 2 epochs)."""
    head_lr_factor: float = 10.0
    """The explicit descriptor path and the mixing scalars learn this many times faster."""
    finetune_lr_factor: float = 0.2
    """Fine-tuning from a checkpoint trains the transformers at ``lr * finetune_lr_factor``."""
    weight_decay: float = 0.01
    """AdamW weight decay."""
    batch_pairs: int = 32
    """Pairs per optimiser step (batches group pairs of similar length)."""
    max_epochs: int = 300
    """Upper bound on epochs (early stopping ends training long before on most data)."""
    min_steps: int = 300
    """Optimiser steps before early stopping may end training (few pairs: many short epochs)."""
    patience: int = 8
    """Stop after this many epochs without a better validation loss (the best epoch's weights are kept)."""
    val_fraction: float = 0.2
    """Share held out for validation: of the songs when there are at least ``min_val_songs``, else of the pairs."""
    min_val_songs: int = 5
    """With fewer songs, validation is a fold of the pairs (holding out one of two songs would halve the data)."""
    transformer_min_pairs: int = 1000
    """With fewer pairs only the explicit path is fit, its length chosen by 5-fold cross-validation over
    all of them and then fit on all: a transformer learns nothing reliable from so few."""
    margin_per_strength: float = 0.5
    """Bradley–Terry margin added per strength step above 1 (strength 3 needs a 1.0 wider gap)."""
    tie_threshold: float = 0.5
    """Initial Rao–Kupper tie threshold θ (learned, at the head's learning rate)."""
    torch_threads: int = 2
    """torch threads for training."""
    seed: int = 0
    """Seed for the split, initialisation, bootstrap samples and batches."""

    def __post_init__(self) -> None:
        _check(0 < self.lr < 1, "reward_train.lr", self.lr, "must be in (0, 1)")
        _check(self.head_lr_factor > 0, "reward_train.head_lr_factor", self.head_lr_factor, "must be > 0")
        _check(0 < self.finetune_lr_factor <= 1, "reward_train.finetune_lr_factor", self.finetune_lr_factor, "must be in (0, 1]")
        _check(self.batch_pairs >= 1, "reward_train.batch_pairs", self.batch_pairs, "must be >= 1")
        _check(self.max_epochs >= 1, "reward_train.max_epochs", self.max_epochs, "must be >= 1")
        _check(self.min_steps >= 0, "reward_train.min_steps", self.min_steps, "must be >= 0")
        _check(self.patience >= 1, "reward_train.patience", self.patience, "must be >= 1")
        _check(0 < self.val_fraction < 1, "reward_train.val_fraction", self.val_fraction, "must be in (0, 1)")
        _check(self.min_val_songs >= 2, "reward_train.min_val_songs", self.min_val_songs, "must be >= 2")
        _check(self.transformer_min_pairs >= 0, "reward_train.transformer_min_pairs", self.transformer_min_pairs, "must be >= 0")
        _check(self.margin_per_strength >= 0, "reward_train.margin_per_strength", self.margin_per_strength, "must be >= 0")
        _check(self.tie_threshold > 0, "reward_train.tie_threshold", self.tie_threshold, "must be > 0")
        _check(self.torch_threads >= 1, "reward_train.torch_threads", self.torch_threads, "must be >= 1")


@dataclass(frozen=True)
class RaterConfig:
    """Simulated raters standing in for people: tastes of the panel in
    ``editor_rl.raters.tastes`` (balanced, few_cuts, exact_length, keeps_hook, no_repeats,
    keeps_ending, energy_arc, bar_lines). A taste that labels training pairs never judges."""

    pretrain_tastes: tuple[str, ...] = ("balanced", "few_cuts", "exact_length", "keeps_hook", "no_repeats")
    """Tastes whose mixture labels the reward model's pretraining pairs (what most listeners share);
    fresh raters of these tastes (labelling nothing) choose ``checkpoints/best``."""
    feedback_taste: str = "balanced"
    """The taste that judges the policy's own edits between the quickstart's PPO rounds (standing in
    for the people of the feedback service); one of ``pretrain_tastes``."""
    judge_tastes: tuple[str, ...] = ("keeps_ending", "energy_arc", "bar_lines")
    """Tastes the model never learns from: they judge evaluations (held-out songs, unseen tastes)."""
    seed: int = 0
    """Seed of the raters' own randomness (each rater derives its own from it)."""

    def __post_init__(self) -> None:
        _check(len(self.pretrain_tastes) >= 1, "rater.pretrain_tastes", self.pretrain_tastes, "must name at least one taste")
        _check(self.feedback_taste in self.pretrain_tastes, "rater.feedback_taste", self.feedback_taste, "must be one of rater.pretrain_tastes")
        _check(len(self.judge_tastes) >= 1, "rater.judge_tastes", self.judge_tastes, "must name at least one taste")
        both = sorted(set(self.judge_tastes) & set(self.pretrain_tastes))
        _check(not both, "rater.judge_tastes", self.judge_tastes, f"a judge never labels training pairs, but {', '.join(both)} is in rater.pretrain_tastes")


@dataclass(frozen=True)
class PoolConfig:
    """The RewardPool of Ray actors hosting the reward model."""

    num_actors: int = 1
    """Actors in the pool."""
    num_cpus: float = 1.0
    """CPUs per actor (torch threads follow it, at least 1)."""
    num_gpus: float = 0.0
    """GPUs per actor (0.25: four actors share a GPU); 0 scores on CPU. -1 (auto): the cluster's GPUs
    shared among the actors (1/⌈actors/GPUs⌉ each, at most one), CPU when it has none."""
    max_batch: int = 64
    """Sequences an actor on CPU scores in one forward pass."""
    gpu_max_batch: int = 1024
    """Sequences an actor on a GPU scores in one forward pass."""
    precision: str = "fp32"
    """"fp32": full precision everywhere; "bf16": autocast on CUDA (fp32 on CPU, where bf16 does not
    pay). fp32 by default: the reward model's arithmetic is not what limits a GPU actor (the
    seed-sized model: ≈ 0.25 GFLOP per 60-beat edit; building batches on the host costs more),
    and on an H100 bf16 was no faster (16.3k against 20.1k sequences/s with four actors) and off
    by 5.6e-3 (BENCHMARKS "RewardPool throughput")."""
    max_wait_ms: float = 5.0
    """How long an actor waits to fill a batch."""
    timeout_s: float = 60.0
    """A request not answered in this time is retried on another actor."""
    max_retries: int = 3
    """Retries of a request after a timeout or an actor's death."""
    max_restarts: int = -1
    """Ray restarts of a dead actor (-1: always)."""

    def __post_init__(self) -> None:
        _check(self.num_actors >= 1, "pool.num_actors", self.num_actors, "must be >= 1")
        _check(self.num_cpus > 0, "pool.num_cpus", self.num_cpus, "must be > 0")
        _check(self.num_gpus >= 0 or self.num_gpus == -1, "pool.num_gpus", self.num_gpus, "must be >= 0, or -1 for auto")
        _check(self.max_batch >= 1, "pool.max_batch", self.max_batch, "must be >= 1")
        _check(self.gpu_max_batch >= 1, "pool.gpu_max_batch", self.gpu_max_batch, "must be >= 1")
        _check(self.precision in ("bf16", "fp32"), "pool.precision", self.precision, "must be bf16 or fp32")
        _check(self.max_wait_ms >= 0, "pool.max_wait_ms", self.max_wait_ms, "must be >= 0")
        _check(self.timeout_s > 0, "pool.timeout_s", self.timeout_s, "must be > 0")
        _check(self.max_retries >= 0, "pool.max_retries", self.max_retries, "must be >= 0")


@dataclass(frozen=True)
class RLConfig:
    """PPO on RLlib's new API stack with the learned reward in the loop."""

    num_env_runners: int = 1
    """EnvRunner actors collecting episodes (CPU)."""
    envs_per_env_runner: int = 8
    """Environments stepped together in each EnvRunner."""
    env_runner_cpus: float = 1.0
    """CPUs per EnvRunner."""
    train_batch_size: int = 2000
    """Env steps per training iteration (whole episodes)."""
    minibatch_size: int = 256
    """SGD minibatch, env steps."""
    num_epochs: int = 4
    """SGD passes over each batch."""
    lr: float = 1e-4
    """Adam learning rate."""
    gamma: float = 0.995
    """Discount."""
    entropy_coeff: float = 0.01
    """Entropy bonus."""
    hidden: tuple[int, ...] = (256, 256)
    """Policy and value MLP widths."""
    w_learned: float = 0.8
    """Weight of the (normalised) learned reward in the total reward (the seeds: 0.8)."""
    w_dense: float = 0.2
    """Weight of the dense reward (the seeds: 0.2)."""
    reward_checkpoint: str = ""
    """Reward-model checkpoint scored by the RewardPool; empty: dense reward only."""
    uncertainty_penalty: float = 0.0
    """Learned reward = ensemble mean − this × ensemble spread (a conservative score)."""
    vf_warmup_iterations: int = 2
    """With ``init_policy``: iterations that train only the value function before the policy moves."""
    kl_coeff: float = 0.02
    """Per-step KL penalty toward the reference policy (``init_policy``); 0 turns it off."""
    init_policy: str = ""
    """Start PPO from this policy checkpoint (e.g. behaviour cloning's); empty: a fresh policy."""
    iterations: int = 30
    """Training iterations."""
    checkpoint_every: int = 5
    """Save a checkpoint every this many iterations (and at the end)."""
    restart_delay_s: float = 1.0
    """Delay before a failed EnvRunner is restarted."""
    learner_gpus: float = 0.0
    """GPUs of the PPO learner (RLlib's ``num_gpus_per_learner``); 0: CPU; -1 (auto): one if the cluster has a GPU."""
    seed: int = 0
    """Seed of the algorithm."""

    def __post_init__(self) -> None:
        _check(self.num_env_runners >= 0, "rl.num_env_runners", self.num_env_runners, "must be >= 0")
        _check(self.learner_gpus >= 0 or self.learner_gpus == -1, "rl.learner_gpus", self.learner_gpus, "must be >= 0, or -1 for auto")
        _check(self.uncertainty_penalty >= 0, "rl.uncertainty_penalty", self.uncertainty_penalty, "must be >= 0")
        _check(self.vf_warmup_iterations >= 0, "rl.vf_warmup_iterations", self.vf_warmup_iterations, "must be >= 0")
        _check(self.kl_coeff >= 0, "rl.kl_coeff", self.kl_coeff, "must be >= 0")
        _check(self.envs_per_env_runner >= 1, "rl.envs_per_env_runner", self.envs_per_env_runner, "must be >= 1")
        _check(self.env_runner_cpus > 0, "rl.env_runner_cpus", self.env_runner_cpus, "must be > 0")
        _check(self.train_batch_size >= self.minibatch_size >= 1, "rl.minibatch_size", self.minibatch_size, "must be in [1, train_batch_size]")
        _check(self.num_epochs >= 1, "rl.num_epochs", self.num_epochs, "must be >= 1")
        _check(0 < self.lr < 1, "rl.lr", self.lr, "must be in (0, 1)")
        _check(0 < self.gamma <= 1, "rl.gamma", self.gamma, "must be in (0, 1]")
        _check(self.entropy_coeff >= 0, "rl.entropy_coeff", self.entropy_coeff, "must be >= 0")
        _check(len(self.hidden) >= 1 and all(h >= 1 for h in self.hidden), "rl.hidden", self.hidden, "must be a non-empty list of positive widths")
        _check(self.w_learned >= 0 and self.w_dense >= 0 and self.w_learned + self.w_dense > 0, "rl.w_learned", self.w_learned, "weights must be >= 0 and not both 0")
        _check(self.iterations >= 1, "rl.iterations", self.iterations, "must be >= 1")
        _check(self.checkpoint_every >= 1, "rl.checkpoint_every", self.checkpoint_every, "must be >= 1")
        _check(self.restart_delay_s >= 0, "rl.restart_delay_s", self.restart_delay_s, "must be >= 0")
