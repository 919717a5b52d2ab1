"""Typed, frozen configuration for every concern, loaded from ``configs/*.yaml``.

A config file is a YAML mapping of sections (``audio``, ``beats``, ``render``, ``synth``,
``corpus``, ``run``); each section maps onto one frozen dataclass below. Any field can be
overridden from the command line with ``--set section.field=value`` (the value is parsed as
YAML, so ``--set render.crossfade_ms=30`` gives an int). Unknown sections or fields, and values
of the wrong type or range, raise :class:`~editor_rl.errors.ConfigError` naming the field.

The dataclass defaults *are* the embedded default configuration used by ``editor-rl
quickstart``; ``configs/quickstart.yaml`` spells them out (a test keeps the two equal).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from editor_rl.errors import ConfigError


def _check(cond: bool, name: str, value: Any, what: str) -> None:
    if not cond:
        raise ConfigError(f"{name}={value!r}: {what}")


@dataclass(frozen=True)
class AudioConfig:
    """Decoding and validation of input audio."""

    sample_rate: int = 22050
    """Analysis sample rate in Hz (audio is resampled to mono at this rate for analysis)."""
    n_fft: int = 2048
    """STFT window length in samples at ``sample_rate``."""
    hop_length: int = 512
    """STFT hop in samples at ``sample_rate`` (23.2 ms at 22 050 Hz)."""
    max_duration_s: float = 1200.0
    """Longest accepted song, seconds (20 min)."""
    silence_dbfs: float = -60.0
    """A file whose RMS is below this level (dB full scale) counts as digital silence."""
    allowed_formats: tuple[str, ...] = ("wav", "flac", "ogg", "mp3")
    """File extensions accepted (lower case, without the dot)."""

    def __post_init__(self) -> None:
        _check(8000 <= self.sample_rate <= 96000, "audio.sample_rate", self.sample_rate, "must be in [8000, 96000] Hz")
        _check(self.n_fft >= 256 and self.n_fft & (self.n_fft - 1) == 0, "audio.n_fft", self.n_fft, "must be a power of two >= 256")
        _check(0 < self.hop_length <= self.n_fft, "audio.hop_length", self.hop_length, "must be in (0, n_fft]")
        _check(self.max_duration_s > 0, "audio.max_duration_s", self.max_duration_s, "must be > 0")
        _check(self.silence_dbfs < 0, "audio.silence_dbfs", self.silence_dbfs, "must be < 0 dBFS")


@dataclass(frozen=True)
class BeatConfig:
    """Tempo, beat, downbeat and phrase tracking."""

    tempo_min_bpm: float = 70.0
    """Lowest preferred tempo; estimates below are doubled (octave correction)."""
    tempo_max_bpm: float = 180.0
    """Highest preferred tempo; estimates above are halved."""
    beats_per_bar: int = 4
    """Beats in a bar (4/4 by default)."""
    beats_per_phrase: int = 8
    """Beats in a phrase (two 4/4 bars)."""
    refine_window_s: float = 0.035
    """Each tracked beat moves to the strongest onset within this many seconds of it."""
    tightness: float = 100.0
    """librosa beat-tracker tightness: lower follows tempo drift more freely."""
    min_beats: int = 8
    """Songs with fewer beats are rejected."""

    def __post_init__(self) -> None:
        _check(20 <= self.tempo_min_bpm < self.tempo_max_bpm, "beats.tempo_min_bpm", self.tempo_min_bpm, "must be >= 20 and < tempo_max_bpm")
        _check(self.tempo_max_bpm <= 400, "beats.tempo_max_bpm", self.tempo_max_bpm, "must be <= 400")
        _check(self.tempo_max_bpm >= 1.9 * self.tempo_min_bpm, "beats.tempo_max_bpm", self.tempo_max_bpm, "must span about an octave above tempo_min_bpm (>= 1.9x)")
        _check(2 <= self.beats_per_bar <= 12, "beats.beats_per_bar", self.beats_per_bar, "must be in [2, 12]")
        _check(self.beats_per_phrase % self.beats_per_bar == 0, "beats.beats_per_phrase", self.beats_per_phrase, "must be a multiple of beats_per_bar")
        _check(0 <= self.refine_window_s <= 0.2, "beats.refine_window_s", self.refine_window_s, "must be in [0, 0.2] s")
        _check(self.tightness > 0, "beats.tightness", self.tightness, "must be > 0")
        _check(self.min_beats >= 2, "beats.min_beats", self.min_beats, "must be >= 2")


@dataclass(frozen=True)
class RenderConfig:
    """Rendering an edit plan to audio."""

    crossfade_ms: float = 20.0
    """Length of the crossfade at every seam, milliseconds."""
    zero_cross_window_ms: float = 3.0
    """Cut points move to a rising zero crossing at most this far away, milliseconds."""
    fade_out_s: float = 2.0
    """Fade-out length when the plan ends with END (or ``--fade-out`` is asked), seconds."""
    edge_fade_ms: float = 5.0
    """Short fade at the very start and end of the render so the edges never click."""

    def __post_init__(self) -> None:
        _check(0 <= self.crossfade_ms <= 500, "render.crossfade_ms", self.crossfade_ms, "must be in [0, 500] ms")
        _check(0 <= self.zero_cross_window_ms <= 50, "render.zero_cross_window_ms", self.zero_cross_window_ms, "must be in [0, 50] ms")
        _check(0 <= self.fade_out_s <= 30, "render.fade_out_s", self.fade_out_s, "must be in [0, 30] s")
        _check(0 <= self.edge_fade_ms <= 100, "render.edge_fade_ms", self.edge_fade_ms, "must be in [0, 100] ms")


@dataclass(frozen=True)
class EnvConfig:
    """The editing environment."""

    window_beats: int = 7
    """Beats of features in each observation, centred on the cursor (odd)."""
    target_ratio_min: float = 0.4
    """Smallest target length drawn at reset, as a fraction of the song."""
    target_ratio_max: float = 0.8
    """Largest target length drawn at reset, as a fraction of the song."""
    min_end_fraction: float = 0.5
    """END is allowed once the output reaches this fraction of the target."""
    max_length_factor: float = 1.5
    """Once the output reaches this multiple of the target, only END is allowed."""
    max_consecutive_loops: int = 2
    """Loop actions allowed in a row."""
    reward_mode: str = "terminal"
    """"terminal": the dense reward once, at the end; "shaped": its change at every step (same sum)."""
    max_steps: int = 4000
    """Steps before an episode is truncated."""
    planner_hint: bool = True
    """Show the policy the search planner's next action (re-planned wherever the policy goes)."""
    max_replans: int = 64
    """Re-plans per episode after the policy leaves the plan; past it the hint goes blank."""

    def __post_init__(self) -> None:
        _check(self.window_beats >= 1 and self.window_beats % 2 == 1, "env.window_beats", self.window_beats, "must be a positive odd number")
        _check(0 < self.target_ratio_min <= self.target_ratio_max <= 1, "env.target_ratio_min", self.target_ratio_min, "need 0 < target_ratio_min <= target_ratio_max <= 1")
        _check(0 <= self.min_end_fraction <= 1, "env.min_end_fraction", self.min_end_fraction, "must be in [0, 1]")
        _check(self.max_length_factor > 1, "env.max_length_factor", self.max_length_factor, "must be > 1")
        _check(0 <= self.max_consecutive_loops <= 16, "env.max_consecutive_loops", self.max_consecutive_loops, "must be in [0, 16]")
        _check(self.reward_mode in ("terminal", "shaped"), "env.reward_mode", self.reward_mode, "must be 'terminal' or 'shaped'")
        _check(self.max_steps >= 10, "env.max_steps", self.max_steps, "must be >= 10")
        _check(self.max_replans >= 0, "env.max_replans", self.max_replans, "must be >= 0")


@dataclass(frozen=True)
class RewardConfig:
    """Weights of the dense reward (see ``editor_rl.rewards.dense``)."""

    w_tempo: float = 0.25
    """Tempo consistency across seams."""
    w_energy: float = 0.25
    """Loudness continuity across seams."""
    w_phrase: float = 0.25
    """Seams, start and end on bar and phrase boundaries."""
    w_transition: float = 0.25
    """Look-ahead timbre/harmony similarity at seams."""
    w_duration: float = 0.5
    """Share of the total given to hitting the target length (the rest is the four above)."""

    def __post_init__(self) -> None:
        for name in ("w_tempo", "w_energy", "w_phrase", "w_transition"):
            _check(getattr(self, name) >= 0, f"reward.{name}", getattr(self, name), "must be >= 0")
        _check(self.w_tempo + self.w_energy + self.w_phrase + self.w_transition > 0, "reward.w_tempo", self.w_tempo, "the four quality weights must not all be 0")
        _check(0 <= self.w_duration <= 1, "reward.w_duration", self.w_duration, "must be in [0, 1]")


@dataclass(frozen=True)
class SearchConfig:
    """The search baseline (dynamic programming over the beat graph)."""

    seam_penalty: float = 0.15
    """Cost added per seam on top of its quality cost (fewer seams are better)."""
    half_bar_penalty: float = 0.5
    """Extra cost of a seam at a half bar (used to get within a beat of the target)."""
    keep_start: bool = True
    """The edit starts at the song's start (retargeting-style)."""
    keep_end: bool = True
    """The edit ends with the song's own ending; if False it may end with a fade at a phrase end."""

    def __post_init__(self) -> None:
        _check(self.seam_penalty >= 0, "search.seam_penalty", self.seam_penalty, "must be >= 0")
        _check(self.half_bar_penalty >= 0, "search.half_bar_penalty", self.half_bar_penalty, "must be >= 0")


@dataclass(frozen=True)
class RewardModelConfig:
    """The transformer reward model. The embedded (quickstart) defaults are small enough to train in
    minutes on 2 cores; ``configs/default.yaml`` has the seeds' size (3 layers, 4 heads, d = 256,
    ff 1024, 5 ensemble heads)."""

    d_model: int = 64
    """Width of the transformer."""
    n_layers: int = 2
    """Encoder layers."""
    n_heads: int = 4
    """Attention heads."""
    d_ff: int = 128
    """Feed-forward width."""
    dropout: float = 0.1
    """Dropout in the encoder."""
    ensemble: int = 3
    """Score heads on the shared trunk; their spread is the score's uncertainty."""
    max_beats: int = 500
    """Longest sequence scored at once; longer edits are scored in chunks (length-weighted mean)."""

    def __post_init__(self) -> None:
        _check(self.d_model >= 8 and self.d_model % self.n_heads == 0, "reward_model.d_model", self.d_model, "must be >= 8 and divisible by n_heads")
        _check(1 <= self.n_layers <= 24, "reward_model.n_layers", self.n_layers, "must be in [1, 24]")
        _check(self.n_heads >= 1, "reward_model.n_heads", self.n_heads, "must be >= 1")
        _check(self.d_ff >= 8, "reward_model.d_ff", self.d_ff, "must be >= 8")
        _check(0 <= self.dropout < 1, "reward_model.dropout", self.dropout, "must be in [0, 1)")
        _check(1 <= self.ensemble <= 32, "reward_model.ensemble", self.ensemble, "must be in [1, 32]")
        _check(16 <= self.max_beats <= 4096, "reward_model.max_beats", self.max_beats, "must be in [16, 4096]")


@dataclass(frozen=True)
class RewardTrainConfig:
    """Bradley–Terry training of the reward model."""

    lr: float = 3e-4
    """AdamW learning rate (pretraining)."""
    finetune_lr_factor: float = 0.2
    """Fine-tuning from a checkpoint uses ``lr * finetune_lr_factor``."""
    weight_decay: float = 0.01
    """AdamW weight decay."""
    batch_pairs: int = 32
    """Pairs per optimiser step."""
    max_epochs: int = 30
    """Upper bound on epochs."""
    patience: int = 4
    """Stop after this many epochs without a better validation loss."""
    val_fraction: float = 0.2
    """Share of songs (not pairs: no song is in both splits) held out for validation."""
    margin_per_strength: float = 0.5
    """Bradley–Terry margin added per strength step above 1 (strength 3 needs a 1.0 wider gap)."""
    tie_threshold: float = 0.5
    """Initial Rao–Kupper tie threshold θ (learned)."""
    torch_threads: int = 2
    """torch threads for training."""
    seed: int = 0
    """Seed for the split, initialisation and batches."""

    def __post_init__(self) -> None:
        _check(0 < self.lr < 1, "reward_train.lr", self.lr, "must be in (0, 1)")
        _check(0 < self.finetune_lr_factor <= 1, "reward_train.finetune_lr_factor", self.finetune_lr_factor, "must be in (0, 1]")
        _check(self.batch_pairs >= 1, "reward_train.batch_pairs", self.batch_pairs, "must be >= 1")
        _check(self.max_epochs >= 1, "reward_train.max_epochs", self.max_epochs, "must be >= 1")
        _check(self.patience >= 1, "reward_train.patience", self.patience, "must be >= 1")
        _check(0 < self.val_fraction < 1, "reward_train.val_fraction", self.val_fraction, "must be in (0, 1)")
        _check(self.margin_per_strength >= 0, "reward_train.margin_per_strength", self.margin_per_strength, "must be >= 0")
        _check(self.tie_threshold > 0, "reward_train.tie_threshold", self.tie_threshold, "must be > 0")
        _check(self.torch_threads >= 1, "reward_train.torch_threads", self.torch_threads, "must be >= 1")


@dataclass(frozen=True)
class RaterConfig:
    """A simulated rater: a taste (utility weights) and how noisily it reports it."""

    w_tight: float = 1.0
    """Likes edits near the target length."""
    w_seams: float = 1.0
    """Likes clean seams (look-ahead transition and loudness continuity)."""
    w_phrase: float = 0.6
    """Likes whole phrases (seams, start and end on phrase/bar boundaries)."""
    w_chorus: float = 0.8
    """Likes edits that keep the chorus."""
    noise: float = 0.03
    """Bradley–Terry temperature: P(a over b) = sigmoid((u_a - u_b) / noise)."""
    tie_margin: float = 0.02
    """Utility differences below this are judged a tie."""
    strength_steps: tuple[float, ...] = (0.08, 0.2)
    """|u_a - u_b| above the first gives strength 2, above the second strength 3."""
    seed: int = 0
    """Seed of the rater's own randomness."""

    def __post_init__(self) -> None:
        for name in ("w_tight", "w_seams", "w_phrase", "w_chorus"):
            _check(getattr(self, name) >= 0, f"rater.{name}", getattr(self, name), "must be >= 0")
        _check(self.noise > 0, "rater.noise", self.noise, "must be > 0")
        _check(self.tie_margin >= 0, "rater.tie_margin", self.tie_margin, "must be >= 0")
        _check(len(self.strength_steps) == 2 and 0 <= self.strength_steps[0] <= self.strength_steps[1], "rater.strength_steps", self.strength_steps, "must be two increasing thresholds")


@dataclass(frozen=True)
class PoolConfig:
    """The RewardPool of Ray actors hosting the reward model."""

    num_actors: int = 1
    """Actors in the pool."""
    num_cpus: float = 1.0
    """CPUs per actor (torch threads follow it, at least 1)."""
    num_gpus: float = 0.0
    """GPUs per actor (a fraction shares a GPU); 0 scores on CPU. -1: one per actor if the cluster has GPUs."""
    max_batch: int = 64
    """Sequences an actor scores in one forward pass."""
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
        _check(self.max_wait_ms >= 0, "pool.max_wait_ms", self.max_wait_ms, "must be >= 0")
        _check(self.timeout_s > 0, "pool.timeout_s", self.timeout_s, "must be > 0")
        _check(self.max_retries >= 0, "pool.max_retries", self.max_retries, "must be >= 0")


@dataclass(frozen=True)
class RLConfig:
    """PPO on RLlib's new API stack with the learned reward in the loop."""

    num_env_runners: int = 1
    """EnvRunner actors collecting episodes (CPU)."""
    envs_per_env_runner: int = 2
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
    seed: int = 0
    """Seed of the algorithm."""

    def __post_init__(self) -> None:
        _check(self.num_env_runners >= 0, "rl.num_env_runners", self.num_env_runners, "must be >= 0")
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


@dataclass(frozen=True)
class SynthConfig:
    """Synthetic songs with ground truth."""

    sample_rate: int = 44100
    """Output sample rate, Hz."""
    channels: int = 2
    """Output channels (stereo by default, so rendering keeps channels)."""
    min_bpm: float = 70.0
    """Lowest tempo drawn, BPM."""
    max_bpm: float = 180.0
    """Highest tempo drawn, BPM."""
    min_seconds: float = 40.0
    """Shortest song drawn, seconds (rounded to whole phrases)."""
    max_seconds: float = 70.0
    """Longest song drawn, seconds (rounded to whole phrases)."""
    swing_probability: float = 0.3
    """Share of songs whose off-beat eighths are swung."""
    drift_probability: float = 0.3
    """Share of songs whose tempo drifts linearly (up to ±4 % over the song)."""

    def __post_init__(self) -> None:
        _check(8000 <= self.sample_rate <= 96000, "synth.sample_rate", self.sample_rate, "must be in [8000, 96000] Hz")
        _check(self.channels in (1, 2), "synth.channels", self.channels, "must be 1 or 2")
        _check(30 <= self.min_bpm <= self.max_bpm <= 300, "synth.min_bpm", self.min_bpm, "need 30 <= min_bpm <= max_bpm <= 300")
        _check(5 <= self.min_seconds <= self.max_seconds <= 1200, "synth.min_seconds", self.min_seconds, "need 5 <= min_seconds <= max_seconds <= 1200")
        _check(0 <= self.swing_probability <= 1, "synth.swing_probability", self.swing_probability, "must be in [0, 1]")
        _check(0 <= self.drift_probability <= 1, "synth.drift_probability", self.drift_probability, "must be in [0, 1]")


@dataclass(frozen=True)
class CorpusConfig:
    """The Parquet feature store and parallel analysis."""

    store_dir: str = "runs/quickstart/features"
    """Folder of the feature store (one Parquet file per analysed song and config version)."""
    task_num_cpus: float = 1.0
    """CPUs reserved by each Ray analysis task."""
    max_retries: int = 1
    """Ray retries of an analysis task that died (a worker crash, not bad audio)."""

    def __post_init__(self) -> None:
        _check(bool(self.store_dir), "corpus.store_dir", self.store_dir, "must not be empty")
        _check(0 < self.task_num_cpus <= 64, "corpus.task_num_cpus", self.task_num_cpus, "must be in (0, 64]")
        _check(0 <= self.max_retries <= 10, "corpus.max_retries", self.max_retries, "must be in [0, 10]")


@dataclass(frozen=True)
class RunConfig:
    """Where a job puts its work, and how big the quickstart corpus is."""

    work_dir: str = "runs/quickstart"
    """Folder for everything a run writes."""
    n_songs: int = 16
    """Synthetic training songs made by the quickstart."""
    n_heldout: int = 8
    """Synthetic held-out songs the quickstart evaluates on."""
    n_pairs: int = 1500
    """Simulated-rater pairs the quickstart pretrains the reward model on."""
    rlhf_rounds: int = 3
    """PPO rounds of the quickstart; between them the rater judges the policy's edits and the
    reward model is fine-tuned on them."""
    seed: int = 0
    """Seed for everything random in a run."""
    num_cpus: int | None = None
    """CPUs for a local Ray instance (None: all of this machine's)."""

    def __post_init__(self) -> None:
        _check(bool(self.work_dir), "run.work_dir", self.work_dir, "must not be empty")
        _check(1 <= self.n_songs <= 100000, "run.n_songs", self.n_songs, "must be in [1, 100000]")
        _check(1 <= self.n_heldout <= 100000, "run.n_heldout", self.n_heldout, "must be in [1, 100000]")
        _check(self.n_pairs >= 2, "run.n_pairs", self.n_pairs, "must be >= 2")
        _check(self.rlhf_rounds >= 1, "run.rlhf_rounds", self.rlhf_rounds, "must be >= 1")
        _check(self.num_cpus is None or self.num_cpus >= 1, "run.num_cpus", self.num_cpus, "must be >= 1 or null")


@dataclass(frozen=True)
class Config:
    """The whole configuration: one frozen section per concern."""

    audio: AudioConfig = field(default_factory=AudioConfig)
    beats: BeatConfig = field(default_factory=BeatConfig)
    render: RenderConfig = field(default_factory=RenderConfig)
    env: EnvConfig = field(default_factory=EnvConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    reward_model: RewardModelConfig = field(default_factory=RewardModelConfig)
    reward_train: RewardTrainConfig = field(default_factory=RewardTrainConfig)
    rater: RaterConfig = field(default_factory=RaterConfig)
    pool: PoolConfig = field(default_factory=PoolConfig)
    rl: RLConfig = field(default_factory=RLConfig)
    synth: SynthConfig = field(default_factory=SynthConfig)
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (tuples as lists), the shape of a YAML config file."""
        return json.loads(json.dumps(dataclasses.asdict(self)))


def analysis_version(config: Config) -> str:
    """Short hash of everything that changes an analysis's result.

    Part of the feature-store key, so changing the analysis settings or the feature set never
    serves a stale analysis.
    """
    from editor_rl.audio.features import FEATURE_VERSION

    payload = json.dumps(
        {"audio": dataclasses.asdict(config.audio), "beats": dataclasses.asdict(config.beats), "features": FEATURE_VERSION},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def _coerce(value: Any, tp: Any, name: str) -> Any:
    """Check ``value`` against the annotation ``tp`` (only the types configs use)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], name)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name}={value!r}: expected a list")
        (item_tp, *_) = typing.get_args(tp)
        return tuple(_coerce(v, item_tp, f"{name}[{i}]") for i, v in enumerate(value))
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name}={value!r}: expected true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name}={value!r}: expected an integer")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                raise ConfigError(f"{name}={value!r}: expected a number") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name}={value!r}: expected a number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{name}={value!r}: expected a string")
        return value
    raise ConfigError(f"{name}: unsupported config type {tp!r}")


def _build(cls: type, data: Mapping[str, Any], prefix: str) -> Any:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{prefix}={data!r}: expected a mapping")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{prefix}.{unknown[0]}: unknown field (known: {', '.join(sorted(known))})".lstrip("."))
    kwargs = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        name = f"{prefix}.{f.name}".lstrip(".")
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            kwargs[f.name] = _build(tp, data[f.name] or {}, name)
        else:
            kwargs[f.name] = _coerce(data[f.name], tp, name)
    return cls(**kwargs)


def _apply_override(data: dict[str, Any], override: str) -> None:
    key, sep, raw = override.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {override!r}: expected section.field=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {override!r}: value is not valid YAML ({exc.__class__.__name__})") from None
    parts = key.strip().split(".")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"--set {override!r}: {part!r} is not a section")
        node = child
    node[parts[-1]] = value


def load_config(path: str | Path | None = None, *, overrides: Sequence[str] = ()) -> Config:
    """Load a :class:`Config` from a YAML file (or the embedded default) plus overrides.

    Parameters
    ----------
    path : str or Path or None
        YAML file of sections; None means the embedded default (the dataclass defaults).
    overrides : sequence of str
        ``section.field=value`` strings applied after the file, in order.

    Returns
    -------
    Config

    Raises
    ------
    ConfigError
        The file is missing or not YAML, or a field is unknown, mistyped or out of range.
    """
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file {str(p)!r} does not exist")
        try:
            loaded = yaml.safe_load(p.read_text())
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {str(p)!r} is not valid YAML: {exc}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"config file {str(p)!r}: expected a mapping of sections, got {type(loaded).__name__}")
        data = loaded or {}
    for override in overrides:
        _apply_override(data, override)
    return _build(Config, data, "")
