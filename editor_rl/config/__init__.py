"""Typed, frozen configuration for every concern, loaded from ``configs/*.yaml``.

One frozen dataclass per concern, every field documented: :mod:`editor_rl.config.media` (audio),
:mod:`editor_rl.config.learning` (reward model, raters, pool, PPO) and
:mod:`editor_rl.config.sections` (editing, running, serving, and :class:`Config` holding them all);
:mod:`editor_rl.config.loading` reads YAML files and ``--set section.field=value`` overrides into a
checked :class:`Config`. The dataclass defaults are the embedded default used by ``editor-rl
quickstart``; ``configs/quickstart.yaml`` spells them out.
"""

from editor_rl.config.learning import PoolConfig, RaterConfig, RewardModelConfig, RewardTrainConfig, RLConfig
from editor_rl.config.loading import build_config, config_data, config_diff, load_config, save_config
from editor_rl.config.media import AudioConfig, BeatConfig, CorpusConfig, RenderConfig, SynthConfig
from editor_rl.config.sections import Config, CycleConfig, EnvConfig, EvalConfig, PickConfig, RewardConfig, RunConfig, SearchConfig, ServeConfig, TuneConfig

__all__ = [
    "AudioConfig", "BeatConfig", "Config", "CorpusConfig", "CycleConfig", "EnvConfig", "EvalConfig", "PickConfig", "PoolConfig", "RaterConfig",
    "RenderConfig", "RewardConfig", "RewardModelConfig", "RewardTrainConfig", "RLConfig", "RunConfig", "SearchConfig", "ServeConfig", "SynthConfig", "TuneConfig",
    "build_config", "config_data", "config_diff", "load_config", "save_config",
]
