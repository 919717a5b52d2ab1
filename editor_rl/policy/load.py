"""Loading a trained policy: only the RLModule (no Algorithm, no cluster).

``load_policy(CKPT)`` accepts an Algorithm checkpoint folder (``checkpoints/best``, ``iter_NNNN``)
or the RLModule folder inside it. Editing songs with it is :mod:`editor_rl.policy.rollouts`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from editor_rl.audio.analysis import file_hash
from editor_rl.errors import EditorRLError

MODULE_SUBDIR = Path("learner_group") / "learner" / "rl_module" / "default_policy"


class _RLlibsOwnConfigNotice(logging.Filter):
    """Drops RLlib's notice that ``RLModule(config=RLModuleConfig)`` is deprecated: RLlib's own
    ``RLModule.__init__`` builds that config for every module, so the notice names nothing a caller
    did and would greet every ``editor-rl edit``. Every other deprecation notice passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "RLModuleConfig" not in record.getMessage()


logging.getLogger("ray._common.deprecation").addFilter(_RLlibsOwnConfigNotice())


def _module_dir(checkpoint: str | Path) -> Path:
    p = Path(checkpoint)
    for cand in (p / MODULE_SUBDIR, p):
        if (cand / "class_and_ctor_args.pkl").is_file():
            return cand
    raise EditorRLError(f"no policy (RLModule) found in {str(p)!r}; expected an editor-rl training checkpoint")


def policy_identity(checkpoint: str | Path) -> str:
    """``policy@<hash>`` of a checkpoint's module weights: the same weights give the same identity,
    wherever the checkpoint lies (candidates name the model that made them with it).

    Raises
    ------
    EditorRLError
        No RLModule is found at or under ``checkpoint``.
    """
    return f"policy@{file_hash(_module_dir(checkpoint) / 'module_state.pkl')}"


def load_policy(checkpoint: str | Path):
    """The RLModule of a training checkpoint (eval mode, CPU).

    Raises
    ------
    EditorRLError
        No RLModule is found at or under ``checkpoint``.
    """
    from ray.rllib.core.rl_module.rl_module import RLModule

    module = RLModule.from_checkpoint(str(_module_dir(checkpoint).resolve()))
    module.eval()
    return module
