"""Expert iteration: the policy learns what the listener taught by imitating the new reward model's favourites.

After a cycle's reward fine-tune, the new version *serves* best of N — the new reward model's
conservative favourite among every kind of edit (:mod:`editor_rl.editors.best_of`) — but the policy alone
(one rollout: what makes serving fast) has not learned it. Expert iteration closes that gap: on the
cycle's training songs at ``cycle.expert_targets`` random targets each, the favourites of the new
reward model among the served policy's candidates are the demonstrations, and the served policy is
fine-tuned on them by behaviour cloning (:func:`editor_rl.rl.bc.clone`), starting from its own
weights. PPO against the new reward (``cycle.policy_update: ppo``) is the alternative; the regret
benchmark measures both.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from editor_rl.audio.analysis import SongAnalysis
from editor_rl.editors.best_of import best_picks
from editor_rl.config import Config
from editor_rl.policy.env import MusicEditEnv
from editor_rl.rl.bc import clone, demonstrations
from editor_rl.policy.load import load_policy


def expert_iteration(policy: str | Path, *, scorer, songs: Mapping[str, SongAnalysis], config: Config, out_dir: str | Path, seed: int,
                     say: Callable[[str], None]) -> Path:
    """Fine-tune ``policy`` on ``scorer``'s favourites among its candidates; save the new RLModule.

    Parameters
    ----------
    policy : path
        The served policy's checkpoint (the starting weights and the candidates' policy).
    scorer : RewardScorer
        The new reward model.
    songs : mapping of song id to SongAnalysis
        Training songs.
    out_dir : path
        Where the new RLModule checkpoint is written.
    seed : int

    Returns
    -------
    Path
        ``out_dir``.
    """
    cc = config.cycle
    rng = np.random.default_rng(seed)
    analyses = list(songs.values())
    jobs = [(a, float(rng.uniform(0.3, 0.8)) * a.duration_s, int(rng.integers(1 << 30))) for a in analyses for _ in range(cc.expert_targets)]
    module = load_policy(policy)
    picks = best_picks(module, jobs, scorer=scorer, config=config)
    kinds = Counter(p.kind for p in picks)
    say(f"expert iteration: {len(picks)} favourites of the new reward model ({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))})")
    index = {a.song_id: i for i, a in enumerate(analyses)}
    env = MusicEditEnv(analyses, config=config.env, reward=config.reward, search=config.search)
    demos = demonstrations(env, [(index[a.song_id], t, p.plan) for (a, t, _), p in zip(jobs, picks)])
    clone(module, demos, epochs=cc.expert_epochs, lr=cc.expert_lr, batch_steps=256, smoothing=0.05, seed=seed, say=lambda m: say("  " + m), what="expert")
    out = Path(out_dir)
    module.save_to_path(str(out.resolve()))
    return out
