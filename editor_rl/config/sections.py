"""The sections of the configuration: one frozen dataclass per concern, every field documented.

The dataclass defaults *are* the embedded default configuration used by ``editor-rl quickstart``;
``configs/quickstart.yaml`` spells them out (a test keeps the two equal). Each ``__post_init__``
checks its fields and raises :class:`~editor_rl.errors.ConfigError` naming the field and value.
Audio sections live in :mod:`editor_rl.config.media`, learning ones in :mod:`editor_rl.config.learning`;
this module has the editing, running and serving ones and :class:`Config`, which holds them all.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

from editor_rl.config.checks import check as _check
from editor_rl.config.learning import PoolConfig, RaterConfig, RewardModelConfig, RewardTrainConfig, RLConfig
from editor_rl.config.media import AudioConfig, BeatConfig, CorpusConfig, RenderConfig, SynthConfig


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
    mood_conditioning: bool = False
    """The observation carries a requested mood (none, or a named one drawn per training episode)
    and each window beat's distance from it, and the reward its alignment (``reward.w_mood``). Off:
    observations as before (policies trained without moods load unchanged)."""
    mood_probability: float = 0.5
    """With mood conditioning: the share of training episodes that ask for a named mood (drawn uniformly)."""

    def __post_init__(self) -> None:
        _check(self.window_beats >= 1 and self.window_beats % 2 == 1, "env.window_beats", self.window_beats, "must be a positive odd number")
        _check(0 < self.target_ratio_min <= self.target_ratio_max <= 1, "env.target_ratio_min", self.target_ratio_min, "need 0 < target_ratio_min <= target_ratio_max <= 1")
        _check(0 <= self.min_end_fraction <= 1, "env.min_end_fraction", self.min_end_fraction, "must be in [0, 1]")
        _check(self.max_length_factor > 1, "env.max_length_factor", self.max_length_factor, "must be > 1")
        _check(0 <= self.max_consecutive_loops <= 16, "env.max_consecutive_loops", self.max_consecutive_loops, "must be in [0, 16]")
        _check(self.reward_mode in ("terminal", "shaped"), "env.reward_mode", self.reward_mode, "must be 'terminal' or 'shaped'")
        _check(self.max_steps >= 10, "env.max_steps", self.max_steps, "must be >= 10")
        _check(self.max_replans >= 0, "env.max_replans", self.max_replans, "must be >= 0")
        _check(0 <= self.mood_probability <= 1, "env.mood_probability", self.mood_probability, "must be in [0, 1]")


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
    w_mood: float = 0.5
    """In an episode asked for a mood (``env.mood_conditioning``): the share of the env's reward given
    to mood alignment, 1 − (mean distance of the beats played from the mood) / 1.5, clipped to [0, 1]."""

    def __post_init__(self) -> None:
        for name in ("w_tempo", "w_energy", "w_phrase", "w_transition"):
            _check(getattr(self, name) >= 0, f"reward.{name}", getattr(self, name), "must be >= 0")
        _check(self.w_tempo + self.w_energy + self.w_phrase + self.w_transition > 0, "reward.w_tempo", self.w_tempo, "the four quality weights must not all be 0")
        _check(0 <= self.w_duration <= 1, "reward.w_duration", self.w_duration, "must be in [0, 1]")
        _check(0 <= self.w_mood <= 1, "reward.w_mood", self.w_mood, "must be in [0, 1]")


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
    mood_bonus: float = 0.15
    """Per-beat bonus, per unit of (arousal, valence) distance nearer a requested mood than the
    song's average beat, when the search is asked for a mood (``editor_rl.editors.mood``)."""

    def __post_init__(self) -> None:
        _check(self.seam_penalty >= 0, "search.seam_penalty", self.seam_penalty, "must be >= 0")
        _check(self.mood_bonus >= 0, "search.mood_bonus", self.mood_bonus, "must be >= 0")
        _check(self.half_bar_penalty >= 0, "search.half_bar_penalty", self.half_bar_penalty, "must be >= 0")


@dataclass(frozen=True)
class RunConfig:
    """Where a job puts its work, and how big the quickstart corpus is."""

    work_dir: str = "runs/quickstart"
    """Folder for everything a run writes."""
    n_songs: int = 16
    """Synthetic training songs made by the quickstart."""
    n_heldout: int = 8
    """Synthetic held-out songs the quickstart evaluates on."""
    n_validation: int = 4
    """Synthetic validation songs the quickstart chooses ``checkpoints/best`` on (never trained on, never in the final evaluation)."""
    n_pairs: int = 1500
    """Simulated-rater pairs the quickstart pretrains the reward model on."""
    rlhf_rounds: int = 3
    """PPO rounds of the quickstart; between them the rater judges the policy's edits and the
    reward model is fine-tuned on them."""
    seed: int = 0
    """Seed for everything random in a run."""
    num_cpus: int | None = None
    """CPUs for a local Ray instance (None: all of this machine's)."""
    heldout_dir: str = ""
    """Songs the policy never trains on, judged at every checkpoint to choose ``checkpoints/best``
    (empty: ``<work_dir>/validation`` if it exists; with none, ``best`` is the latest checkpoint)."""

    def __post_init__(self) -> None:
        _check(bool(self.work_dir), "run.work_dir", self.work_dir, "must not be empty")
        _check(1 <= self.n_songs <= 100000, "run.n_songs", self.n_songs, "must be in [1, 100000]")
        _check(1 <= self.n_heldout <= 100000, "run.n_heldout", self.n_heldout, "must be in [1, 100000]")
        _check(0 <= self.n_validation <= 100000, "run.n_validation", self.n_validation, "must be in [0, 100000]")
        _check(self.n_pairs >= 2, "run.n_pairs", self.n_pairs, "must be >= 2")
        _check(self.rlhf_rounds >= 1, "run.rlhf_rounds", self.rlhf_rounds, "must be >= 1")
        _check(self.num_cpus is None or self.num_cpus >= 1, "run.num_cpus", self.num_cpus, "must be >= 1 or null")


@dataclass(frozen=True)
class PickConfig:
    """How the edit handed to a person is chosen when a reward model is at hand: best of N among every
    kind of edit raters judge — the policy's greedy edit and samples, the search and its
    section-varied edits, the plain cut, windows and one-cut edits — the reward model's conservative
    favourite (``editor_rl.editors.best_of``)."""

    samples: int = 6
    """Edits the policy samples at ``temperature`` besides its greedy one."""
    temperature: float = 1.0
    """Sampling temperature of those edits."""
    section_plans: int = 4
    """Planner edits favouring random sections (the search's own edit is always among the candidates)."""
    uncertainty_penalty: float = 1.0
    """The favourite maximises mean − this × spread of the ensemble (0: the mean alone)."""
    windows: int = 6
    """Contiguous stretches (no cut inside) from downbeats spread over the song: at least this many."""
    window_spacing: float = 0.5
    """…and enough that their starts lie at most this many targets apart (a 10-minute song at 30 s
    gets 40, a 3-minute one 12): any stretch of the song the length of the target then overlaps a
    candidate window by at least 1 − this. 0: exactly ``windows``."""
    one_cuts: int = 6
    """Edits keeping the song's opening and ending with one cut between, landings spread over the song."""
    plain_cut: bool = True
    """The plain cut with a fade-out among the candidates."""
    mood_windows: int = 3
    """With a requested mood: the windows nearest it join the candidates (besides the mood searches)."""
    mood_weight: float = 4.0
    """With a requested mood: the favourite maximises the reward model's value minus this × the
    candidate's mood distance, both standardised over the job's candidates (0: the mood only steers
    which candidates are made)."""

    def __post_init__(self) -> None:
        _check(self.samples >= 0, "pick.samples", self.samples, "must be >= 0")
        _check(self.windows >= 0, "pick.windows", self.windows, "must be >= 0")
        _check(0 <= self.window_spacing <= 1, "pick.window_spacing", self.window_spacing, "must be in [0, 1] targets")
        _check(self.one_cuts >= 0, "pick.one_cuts", self.one_cuts, "must be >= 0")
        _check(self.temperature > 0, "pick.temperature", self.temperature, "must be > 0")
        _check(self.section_plans >= 0, "pick.section_plans", self.section_plans, "must be >= 0")
        _check(self.uncertainty_penalty >= 0, "pick.uncertainty_penalty", self.uncertainty_penalty, "must be >= 0")
        _check(self.mood_windows >= 0, "pick.mood_windows", self.mood_windows, "must be >= 0")
        _check(self.mood_weight >= 0, "pick.mood_weight", self.mood_weight, "must be >= 0")

    def window_count(self, *, duration_s: float, target_seconds: float) -> int:
        """How many windows a job of a song ``duration_s`` long at ``target_seconds`` gets (see ``window_spacing``)."""
        if self.window_spacing <= 0 or target_seconds <= 0:
            return self.windows
        return max(self.windows, math.ceil(duration_s / (self.window_spacing * target_seconds)))


@dataclass(frozen=True)
class CycleConfig:
    """One RLHF cycle on the service's judgements (``editor-rl cycle``)."""

    min_labels: int = 30
    """Fewer new judgements than this: nothing to learn from yet (exit 2)."""
    holdout_fraction: float = 0.2
    """Share of the new judgements held out: the reward models' agreement with people is measured on them."""
    policy_update: str = "expert"
    """How the policy learns the new reward model: "expert" (expert iteration: behaviour cloning of its
    favourites among every kind of candidate, from the served policy) or "ppo" (PPO against it, KL
    toward the served policy)."""
    expert_targets: int = 6
    """Expert iteration: random targets per training song whose favourites are cloned."""
    expert_epochs: int = 8
    """Expert iteration: epochs of behaviour cloning."""
    expert_lr: float = 5e-4
    """Expert iteration: learning rate."""
    ppo_iterations: int = 6
    """PPO iterations of the policy fine-tune with ``policy_update: ppo`` (from the served policy, KL toward it)."""
    verify_ratios: tuple[float, ...] = (0.3, 0.325, 0.35, 0.375, 0.4, 0.425, 0.45, 0.475, 0.5, 0.525, 0.55, 0.575, 0.6, 0.625, 0.65, 0.675, 0.7)
    """Targets (shares of each song) of the verification round's pairs: on each verification song at each
    of them, the new version's served edit against its parent's where they differ."""
    verify_fraction: float = 0.25
    """Without ``--heldout``, this share of the service's songs (at least one) is kept out of the cycle's
    training and verifies the new version."""
    verify_min_judgements: int = 20
    """A new version is promoted only on at least this many verification judgements."""
    verify_min_win_rate: float = 0.55
    """…preferring it in at least this share (a tie half), with the Wilson interval's lower end above ½."""
    verify_max_judgements: int = 60
    """A round undecided after this many judgements retires the version."""
    verify_z: float = 2.4
    """Width of the Wilson interval. The round is looked at after every judgement, so the interval is
    wider than a single test's 1.96: at 2.4 a listener whose judgements are coin flips promotes in < 5 %
    of rounds (up to 60 judgements), one preferring the new version in 0.7 of pairs in ≈ 85 %
    (simulated in tests/test_verification.py)."""
    candidates_per_song: int = 3
    """Policy edits per song among the next round's candidates (plus the baselines and section plans)."""
    section_plans: int = 2
    """Planner edits per song that favour random sections, among the next round's candidates: edits
    unlike the policy's and the search's, so a round offers the rater choices the model has not seen."""
    windows: int = 2
    """Windows (no cut inside) per song among the next round's candidates."""
    one_cuts: int = 2
    """One-cut edits keeping the opening and ending per song among the next round's candidates."""
    target_ratios: tuple[float, ...] = (0.6, 0.4, 0.8)
    """Each round's target, as a share of each song, in turn: the service's first candidates at the first,
    the round after ``vNNN`` at ``target_ratios[(NNN − 1) mod n]`` — every round judges edits of another
    length (new pairs, not the baselines' pairs judged before)."""

    def __post_init__(self) -> None:
        _check(self.min_labels >= 1, "cycle.min_labels", self.min_labels, "must be >= 1")
        _check(0 < self.holdout_fraction < 1, "cycle.holdout_fraction", self.holdout_fraction, "must be in (0, 1)")
        _check(self.ppo_iterations >= 1, "cycle.ppo_iterations", self.ppo_iterations, "must be >= 1")
        _check(self.policy_update in ("expert", "ppo"), "cycle.policy_update", self.policy_update, "must be 'expert' or 'ppo'")
        _check(self.expert_targets >= 1, "cycle.expert_targets", self.expert_targets, "must be >= 1")
        _check(self.expert_epochs >= 1, "cycle.expert_epochs", self.expert_epochs, "must be >= 1")
        _check(self.expert_lr > 0, "cycle.expert_lr", self.expert_lr, "must be > 0")
        _check(bool(self.verify_ratios) and all(0 < r <= 1 for r in self.verify_ratios), "cycle.verify_ratios", list(self.verify_ratios),
               "must be one or more shares in (0, 1]")
        _check(0 < self.verify_fraction < 1, "cycle.verify_fraction", self.verify_fraction, "must be in (0, 1)")
        _check(self.verify_min_judgements >= 1, "cycle.verify_min_judgements", self.verify_min_judgements, "must be >= 1")
        _check(0.5 <= self.verify_min_win_rate <= 1, "cycle.verify_min_win_rate", self.verify_min_win_rate, "must be in [0.5, 1]")
        _check(self.verify_max_judgements >= self.verify_min_judgements, "cycle.verify_max_judgements", self.verify_max_judgements,
               "must be >= cycle.verify_min_judgements")
        _check(self.verify_z > 0, "cycle.verify_z", self.verify_z, "must be > 0")
        _check(self.windows >= 0 and self.one_cuts >= 0, "cycle.windows", (self.windows, self.one_cuts), "windows and one_cuts must be >= 0")
        _check(self.candidates_per_song >= 1, "cycle.candidates_per_song", self.candidates_per_song, "must be >= 1")
        _check(self.section_plans >= 0, "cycle.section_plans", self.section_plans, "must be >= 0")
        _check(bool(self.target_ratios) and all(0 < r <= 1 for r in self.target_ratios), "cycle.target_ratios", list(self.target_ratios),
               "must be one or more shares in (0, 1]")


@dataclass(frozen=True)
class TuneConfig:
    """A Ray Tune sweep over the reward weights (``editor-rl tune``). Each entry of ``space`` is
    ``section.field=distribution(arguments)`` with a distribution of ``uniform``, ``loguniform``,
    ``randint`` or ``choice``, e.g. ``rl.w_learned=uniform(0.4, 0.9)``."""

    level: str = "ppo"
    """"ppo": PPO trials judged on held-out songs; "reward": only the dense/learned mixture, fit to held-out judgements (no PPO)."""
    trials: int = 4
    """Trials (samples of the space)."""
    iterations: int = 2
    """PPO iterations a trial runs at most (ASHA may stop it earlier)."""
    scheduler: str = "asha"
    """"asha" (stop poor trials early), "pbt" (mutate weights between checkpoints) or "fifo"."""
    search: str = "random"
    """"random" or "optuna" (a TPE search; needs the optuna package)."""
    max_concurrent: int = 2
    """Trials running at once (each reserves its PPO's resources and its reward pool's)."""
    space: tuple[str, ...] = ("reward.w_tempo=uniform(0.05, 0.5)", "reward.w_energy=uniform(0.05, 0.5)", "reward.w_phrase=uniform(0.05, 0.5)",
                              "reward.w_transition=uniform(0.05, 0.5)", "rl.w_learned=uniform(0.4, 0.95)", "rl.w_dense=uniform(0.05, 0.6)",
                              "rl.kl_coeff=loguniform(0.005, 0.1)", "rl.uncertainty_penalty=uniform(0.0, 1.0)")
    """The search space: ``section.field=distribution(arguments)`` entries."""
    max_failures: int = 2
    """Retries of a trial that fails (each failure is reported, none dropped)."""
    synth_songs: int = 0
    """When ``<run.work_dir>/songs`` does not exist: synthesise this many training songs (and half as many validation songs)."""
    pretrain_pairs: int = 0
    """When ``rl.reward_checkpoint`` is empty: pretrain a reward model on this many pairs first (0: dense reward only)."""
    behaviour_clone: bool = True
    """When ``rl.init_policy`` is empty: clone the search first and start every trial from it (the KL reference)."""
    include_default: bool = True
    """The first trial runs the config's own values of the searched fields: the baseline every other trial is compared with."""
    seed: int = 0
    """Seed of the search."""

    def __post_init__(self) -> None:
        _check(self.level in ("ppo", "reward"), "tune.level", self.level, "must be 'ppo' or 'reward'")
        _check(self.trials >= 1, "tune.trials", self.trials, "must be >= 1")
        _check(self.iterations >= 1, "tune.iterations", self.iterations, "must be >= 1")
        _check(self.scheduler in ("asha", "pbt", "fifo"), "tune.scheduler", self.scheduler, "must be 'asha', 'pbt' or 'fifo'")
        _check(self.search in ("random", "optuna"), "tune.search", self.search, "must be 'random' or 'optuna'")
        _check(self.max_concurrent >= 1, "tune.max_concurrent", self.max_concurrent, "must be >= 1")
        _check(len(self.space) >= 1 and all("=" in x and x.rstrip().endswith(")") for x in self.space), "tune.space", self.space,
               "each entry is section.field=distribution(arguments)")
        _check(self.max_failures >= 0, "tune.max_failures", self.max_failures, "must be >= 0")
        _check(self.synth_songs >= 0 and self.pretrain_pairs >= 0, "tune.synth_songs", self.synth_songs, "counts must be >= 0")


@dataclass(frozen=True)
class EvalConfig:
    """Judging a policy on songs it never trained on (``checkpoints/best``, ``editor-rl evaluate``)."""

    target_ratios: tuple[float, ...] = (0.3, 0.5, 0.7)
    """Targets every judged edit is asked for, as fractions of each song's length."""
    target_seconds: tuple[float, ...] = ()
    """Targets in seconds (e.g. ``[30, 60]`` for real recordings); when given they replace
    ``target_ratios``, and a song gets only those up to 90 % of its length."""
    max_songs: int = 8
    """Held-out songs judged at each training checkpoint (the first in name order)."""
    judge_seed: int = 7919
    """Added to the rater's seed for the held-out judges (they never labelled a training pair)."""

    def __post_init__(self) -> None:
        _check(len(self.target_ratios) >= 1 and all(0 < r <= 1 for r in self.target_ratios), "eval.target_ratios", self.target_ratios, "must be fractions in (0, 1]")
        _check(self.max_songs >= 1, "eval.max_songs", self.max_songs, "must be >= 1")
        _check(all(t > 0 for t in self.target_seconds), "eval.target_seconds", self.target_seconds, "must be positive seconds")

    def targets(self, duration_s: float) -> list[float]:
        """The targets, seconds, an edit of a song ``duration_s`` seconds long is judged at."""
        if self.target_seconds:
            return [float(t) for t in self.target_seconds if t <= 0.9 * duration_s]
        return [r * duration_s for r in self.target_ratios]


@dataclass(frozen=True)
class ServeConfig:
    """The Serve app's housekeeping: rendered edits and uploads are kept within bounds (least
    recently used first), so a long-running service does not fill its disk."""

    renders_max_mb: float = 2048.0
    """Rendered edits kept, megabytes in all."""
    renders_max_age_h: float = 24.0
    """A rendered edit not fetched for this many hours is deleted."""
    uploads_max_mb: float = 4096.0
    """Uploaded songs kept, megabytes in all."""
    uploads_max_age_h: float = 168.0
    """An uploaded song not edited for this many hours is deleted (its id then answers 404)."""

    def __post_init__(self) -> None:
        for name in ("renders_max_mb", "renders_max_age_h", "uploads_max_mb", "uploads_max_age_h"):
            _check(getattr(self, name) > 0, f"serve.{name}", getattr(self, name), "must be > 0")


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
    pick: PickConfig = field(default_factory=PickConfig)
    cycle: CycleConfig = field(default_factory=CycleConfig)
    tune: TuneConfig = field(default_factory=TuneConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (tuples as lists), the shape of a YAML config file."""
        return json.loads(json.dumps(dataclasses.asdict(self)))
