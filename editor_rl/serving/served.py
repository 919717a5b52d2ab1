"""The models a Serve replica serves, following the data folder's model registry.

:class:`ServedModels` answers "which policy and reward model for this request?": the version
``models/current`` names (or ``models/current@<rater>`` for a rater with a personal version), loaded
once and kept while the pointer does not change. Every call re-reads the pointer (a few bytes), so a
promotion reaches each replica at its next request — no restart, no failed request: requests in
flight finish with the version they started with. Without a registry (a service started with a
checkpoint and no reward model), the checkpoint given at start is served as version
``"unversioned"``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import NamedTuple

from editor_rl.rewards.mood_head import MoodHead
from editor_rl.rlhf.registry import ModelRegistry

UNVERSIONED = "unversioned"


class Loaded(NamedTuple):
    """A loaded version: its ``name``, policy ``module``, reward ``scorer`` (None without one) and
    ``mood_head`` (where its listeners hear each named mood)."""

    name: str
    module: object
    scorer: object | None
    mood_head: MoodHead = MoodHead()


class ServedModels:
    """See the module docstring.

    Parameters
    ----------
    data_dir : str or Path
    checkpoint : str
        The policy served when the registry is empty.
    reward : str
        Its reward model ("" for none).
    keep : int
        Versions kept loaded at once (everyone's and personal ones), least recently used dropped.
    """

    def __init__(self, data_dir: str | Path, *, checkpoint: str, reward: str = "", keep: int = 4) -> None:
        self.registry = ModelRegistry(data_dir)
        self.checkpoint, self.reward, self.keep = checkpoint, reward, keep
        self._loaded: OrderedDict[str, Loaded] = OrderedDict()
        self._lock = threading.Lock()

    def _load(self, name: str, policy: str | Path, reward: str | Path | None, mood_head: Path | None = None) -> Loaded:
        import torch

        from editor_rl.rewards.model import load_scorer
        from editor_rl.policy.load import load_policy

        torch.set_num_threads(1)
        head = MoodHead.from_json(mood_head.read_text()) if mood_head is not None and mood_head.is_file() else MoodHead()
        return Loaded(name, load_policy(policy), load_scorer(reward) if reward else None, head)

    def for_rater(self, rater: str | None = None) -> Loaded:
        """The version serving ``rater`` (their own, else everyone's), loading it if it is new."""
        name = self.registry.current_name(rater=rater) or UNVERSIONED
        with self._lock:
            if name in self._loaded:
                self._loaded.move_to_end(name)
                return self._loaded[name]
        if name == UNVERSIONED:
            loaded = self._load(name, self.checkpoint, self.reward)
        else:
            version = self.registry.get(name)
            loaded = self._load(name, version.policy, version.reward, version.mood_head)
        with self._lock:
            self._loaded[name] = loaded
            while len(self._loaded) > self.keep:
                self._loaded.popitem(last=False)
        return loaded
