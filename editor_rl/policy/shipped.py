"""The default model shipped in the package: a policy and its reward model that edit real songs
without any training by the user.

``bash scripts/real_pipeline.sh`` trains it on the allowed real recordings plus synthetic songs;
``SHIP=1`` at the end of that run copies it here with :func:`ship`: the policy's RLModule folder
(``policy/``), the reward model (``reward.pt``), the run's config (``config.yaml``) and
``model.json`` (the commit, the command, the files' digests and the run's evaluation summary).
``editor-rl edit`` without ``--checkpoint`` and ``editor-rl serve`` without ``--checkpoint`` use it.
The policy's weights ship in half precision (half the bytes; loading copies them into the module's
float32 parameters).
"""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
from dataclasses import dataclass
from pathlib import Path

from editor_rl.errors import ConfigError
from editor_rl.policy.load import MODULE_SUBDIR

SHIPPED_DIR = Path(__file__).resolve().parent / "default_model"
POLICY_FILES = ("class_and_ctor_args.pkl", "module_state.pkl", "metadata.json")


@dataclass(frozen=True)
class ShippedModel:
    """Where the shipped model's parts lie.

    Attributes
    ----------
    policy : Path
        The RLModule folder (what :func:`editor_rl.policy.load.load_policy` reads).
    reward : Path
        The reward model's checkpoint.
    card : dict
        ``model.json``: commit, command, digests, sizes (bytes) and the run's evaluation summary.
    """

    policy: Path
    reward: Path
    card: dict


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def shipped_model(folder: str | Path | None = None) -> ShippedModel:
    """The shipped model (``folder`` defaults to the package's).

    Raises
    ------
    ConfigError
        A part is missing or does not match its digest in ``model.json``; the message names the
        file and how to make the model again.
    """
    root = Path(folder) if folder is not None else SHIPPED_DIR
    card_path = root / "model.json"
    redo = "train and ship one with `SHIP=1 bash scripts/real_pipeline.sh`, or pass --checkpoint"
    if not card_path.is_file():
        raise ConfigError(f"no default model at {str(root)!r} (model.json missing); {redo}")
    card = json.loads(card_path.read_text())
    for rel, want in card.get("digests", {}).items():
        f = root / rel
        if not f.is_file():
            raise ConfigError(f"default model file {str(f)!r} is missing; {redo}")
        if _digest(f) != want:
            raise ConfigError(f"default model file {str(f)!r} does not match its digest in model.json; {redo}")
    return ShippedModel(policy=root / "policy", reward=root / "reward.pt", card=card)


def _half_precision(path: Path) -> None:
    """Rewrite an RLModule state file with its float32 arrays as float16."""
    import numpy as np

    state = pickle.loads(path.read_bytes())
    half = type(state)((k, v.astype(np.float16) if isinstance(v, np.ndarray) and v.dtype == np.float32 else v) for k, v in state.items())
    path.write_bytes(pickle.dumps(half))


def policy_or_shipped(checkpoint: str | Path | None, reward: str | Path | None) -> tuple[str, str]:
    """``(checkpoint, reward)`` as given, or the shipped model's when no checkpoint is given (a
    reward model given alone is kept: it serves beside the shipped policy).

    Raises
    ------
    ConfigError
        No checkpoint is given and the shipped model is missing or damaged.
    """
    if checkpoint:
        return str(checkpoint), str(reward or "")
    model = shipped_model()
    return str(model.policy), str(reward or model.reward)


def ship(run_dir: str | Path, *, out_dir: str | Path = SHIPPED_DIR, commit: str, command: str) -> ShippedModel:
    """Copy a finished run's best policy and its reward model into ``out_dir`` with their card.

    Parameters
    ----------
    run_dir : path
        A run's work folder: ``checkpoints/best``, ``reward/reward.pt``, ``run_config.yaml`` and,
        when evaluated, ``report/report.json``.
    commit, command : str
        The commit the run was made at and the command that made it (written in the card).

    Raises
    ------
    ConfigError
        A part of the run is missing.
    """
    run, out = Path(run_dir), Path(out_dir)
    parts = {f"policy/{f}": run / "checkpoints" / "best" / MODULE_SUBDIR / f for f in POLICY_FILES}
    parts |= {"reward.pt": run / "reward" / "reward.pt", "config.yaml": run / "run_config.yaml"}
    missing = [str(p) for p in parts.values() if not p.is_file()]
    if missing:
        raise ConfigError(f"cannot ship {str(run)!r}: missing {', '.join(missing)}")
    (out / "policy").mkdir(parents=True, exist_ok=True)
    for rel, src in parts.items():
        shutil.copyfile(src, out / rel)
    _half_precision(out / "policy" / "module_state.pkl")
    report = json.loads((run / "report" / "report.json").read_text()) if (run / "report" / "report.json").is_file() else {}
    card = {
        "commit": commit,
        "command": command,
        "digests": {rel: _digest(out / rel) for rel in parts},
        "bytes": {rel: (out / rel).stat().st_size for rel in parts},
        "evaluation": {k: report[k] for k in ("songs", "targets", "judges", "win_rates", "summary") if k in report},
    }
    (out / "model.json").write_text(json.dumps(card, indent=1) + "\n")
    return shipped_model(out)
