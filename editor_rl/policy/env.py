"""MusicEditEnv: edit one song toward a target length, beat by beat (gymnasium, registered as
``editor_rl/MusicEdit-v0``).

An episode takes one song (drawn from ``songs`` at reset, or named in ``options``) and a target
length (``options["target_seconds"]``, or a ratio of the song drawn from the configured range).
At each step the policy picks one of the 9 actions of :mod:`editor_rl.edit.actions` for the
beat under the cursor.

Observation, a Dict:

- ``observations`` [shape=(window·125 + 23,), float32]: the features of ``window`` beats centred
  on the cursor (standardised per song, clipped to ±5, zeros beyond the song's edges), then 23
  context values: cursor position in the song, output length / target, source left / target
  (÷4), beats since the last seam (÷16), loops in a row (÷2), the last action one-hot (9) and
  the search planner's next action one-hot (9; all zero when ``env.planner_hint`` is off, when
  the hinted action is not allowed, or after ``env.max_replans`` re-plans). The planner
  (:mod:`editor_rl.search.planner`) plans at reset and again whenever the policy leaves its plan.
- ``action_mask`` [shape=(9,), float32]: 1 where an action is allowed.

With ``env.mood_conditioning`` the observations end with ``4 + window`` more values: whether the
episode asks for a mood, its arousal and valence, the mean distance from it of the beats played so
far, and each window beat's distance from it (:mod:`editor_rl.audio.mood`; all zero without a mood).
An episode's mood is ``options["mood"]`` (a :class:`~editor_rl.audio.mood.Mood` or None), else a
named mood drawn with probability ``env.mood_probability``; its hint is the search steered toward the
mood (free start and end, the bonus of :func:`~editor_rl.audio.mood.mood_bonus`).

Reward: the dense reward of :mod:`editor_rl.rewards.dense` — in an episode with a mood,
``(1 − w_mood) · dense + w_mood · alignment`` (alignment: 1 − mean distance / 1.5, clipped) — at the
end (``reward_mode: terminal``) or as its change at every step (``shaped``; the two sum to the same return). At the
end, ``info`` holds the ``plan`` (an :class:`~editor_rl.edit.plan.EditPlan`), ``song_id``,
``target_seconds``, the dense ``components`` and the ``edit_sequence`` the learned reward scores. Deterministic given the reset seed.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Sequence

import gymnasium as gym
import numpy as np

from editor_rl.audio.analysis import SongAnalysis
from editor_rl.audio.features import FEATURE_DIM
from editor_rl.audio.mood import MOOD_NAMES, mood_alignment, mood_bonus, named_mood
from editor_rl.config import EnvConfig, RewardConfig, SearchConfig
from editor_rl.edit.actions import N_ACTIONS, Action, EditState, action_mask, actions_for_order, apply_action
from editor_rl.edit.plan import EditPlan, plan_from_order
from editor_rl.search.planner import PlanStart, free_search, planner_for
from editor_rl.search.promise import check_target, complete_to_target
from editor_rl.errors import InvalidEditError
from editor_rl.rewards import dense
from editor_rl.rewards.sequence import edit_sequence

N_CONTEXT = 5 + 2 * N_ACTIONS
OBS_CLIP = 5.0


def obs_dim(window_beats: int, *, mood: bool = False) -> int:
    """Length of the ``observations`` vector for a window of ``window_beats`` (with the mood context or not)."""
    return window_beats * FEATURE_DIM + N_CONTEXT + ((4 + window_beats) if mood else 0)


def wants_mood(module, window_beats: int) -> bool:
    """Whether a policy module was trained with the mood context (its observation length says so)."""
    space = getattr(module, "observation_space", None)
    try:
        return int(space["observations"].shape[0]) == obs_dim(window_beats, mood=True)
    except (TypeError, KeyError, IndexError):
        return False


class SongCache:
    """Everything an episode needs from one song, computed once per song (:func:`song_cache`); read only."""

    def __init__(self, analysis: SongAnalysis, *, window_beats: int, reward: RewardConfig = RewardConfig(), search: SearchConfig = SearchConfig()) -> None:
        self.analysis = analysis
        f = analysis.features.astype(np.float64)
        z = np.clip((f - f.mean(axis=0)) / (f.std(axis=0) + 1e-6), -OBS_CLIP, OBS_CLIP).astype(np.float32)
        h = window_beats // 2
        self.padded = np.zeros((analysis.n_beats + 2 * h, FEATURE_DIM), dtype=np.float32)
        self.padded[h : h + analysis.n_beats] = z
        self.planner = planner_for(analysis, reward=reward, search=search)  # shared by every env and editor of the song
        self.grid, self.tables = self.planner.grid, self.planner.t
        self.beat_ends_s = analysis.beat_ends_s
        self.suffix_seconds = np.concatenate([np.cumsum(self.grid.durations[::-1])[::-1], [0.0]])  # source left from beat i


def song_cache(analysis: SongAnalysis, *, window_beats: int, reward: RewardConfig, search: SearchConfig) -> SongCache:
    """The song's :class:`SongCache` for these settings, made once per analysis (``analysis.derived``)
    and shared by every env that edits it (best of N walks several at once)."""
    return analysis.derive(("song_cache", window_beats, reward, search),
                           lambda: SongCache(analysis, window_beats=window_beats, reward=reward, search=search))


class MusicEditEnv(gym.Env):
    """Edit a song toward a target length (see the module docstring).

    Parameters
    ----------
    songs : sequence of SongAnalysis
        The songs episodes draw from.
    config : EnvConfig
    reward : RewardConfig
    search : SearchConfig
        The planner behind the hint.
    summarize : bool
        Whether a finished episode's ``info`` carries :meth:`episode_summary` (what training reads);
        the lockstep edits of :mod:`editor_rl.policy.rollouts` read :meth:`promised_plan` instead.
    """

    metadata = {"render_modes": []}

    def __init__(self, songs: Sequence[SongAnalysis], *, config: EnvConfig = EnvConfig(), reward: RewardConfig = RewardConfig(),
                 search: SearchConfig = SearchConfig(), summarize: bool = True) -> None:
        if not songs:
            raise InvalidEditError("MusicEditEnv needs at least one song")
        self.songs = list(songs)
        self.config, self.reward_config, self.search_config = config, reward, search
        self.summarize = summarize
        self._caches: dict[int, SongCache] = {}
        dim = obs_dim(config.window_beats, mood=config.mood_conditioning)
        self.observation_space = gym.spaces.Dict(
            {
                "observations": gym.spaces.Box(-OBS_CLIP, OBS_CLIP, shape=(dim,), dtype=np.float32),
                "action_mask": gym.spaces.Box(0.0, 1.0, shape=(N_ACTIONS,), dtype=np.float32),
            }
        )
        self.action_space = gym.spaces.Discrete(N_ACTIONS)
        self._obs = np.zeros(dim, dtype=np.float32)
        self._song: SongCache | None = None

    # -- episode ---------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        options = options or {}
        if "song_id" in options:
            ids = [s.song_id for s in self.songs]
            if options["song_id"] not in ids:
                raise InvalidEditError(f"song_id={options['song_id']!r} is not among this env's {len(ids)} songs")
            index = ids.index(options["song_id"])
        else:
            index = int(options.get("song_index", self.np_random.integers(len(self.songs))))
        if index not in self._caches:
            self._caches[index] = song_cache(self.songs[index], window_beats=self.config.window_beats, reward=self.reward_config, search=self.search_config)
        self._song = song = self._caches[index]
        a = song.analysis
        if "target_seconds" in options:
            target = float(options["target_seconds"])
        else:
            target = float(self.np_random.uniform(self.config.target_ratio_min, self.config.target_ratio_max)) * a.duration_s
        check_target(a, target)
        self.target = target
        self._set_mood(options)
        self.state = EditState()
        self.running = dense.RunningDense(song.tables, target_seconds=target, weights=self.reward_config)
        self._potential = 0.0
        self._steps = 0
        self._since_seam = 0
        self._replans = -1
        self._hints: list[int] = []
        if self.config.planner_hint:
            self._replan()
        self._mask = self._compute_mask()
        return self._observation(), {"song_id": a.song_id, "target_seconds": target}

    def _set_mood(self, options: dict[str, Any]) -> None:
        """The episode's mood (see the module docstring) and every beat's distance from it."""
        if "mood" in options:
            mood = options["mood"]
            if mood is not None and not self.config.mood_conditioning:
                raise InvalidEditError(f"mood {mood.name or mood.point.tolist()!r}: this environment (and a policy trained in it) has no mood context (env.mood_conditioning)")
        elif self.config.mood_conditioning and self.np_random.random() < self.config.mood_probability:
            mood = named_mood(MOOD_NAMES[int(self.np_random.integers(len(MOOD_NAMES)))])
        else:
            mood = None
        self.mood = mood
        a = self._song.analysis
        self._mood_d = np.linalg.norm(a.mood - mood.point, axis=1) if mood is not None else None
        self._mood_sum = self._mood_seconds = 0.0
        # the hint of an episode with a mood is the search steered toward it (free start and end), as best of N's mood searches
        self._hint_planner = planner_for(a, reward=self.reward_config, search=free_search(self.search_config)) if mood is not None else self._song.planner
        self._hint_bonus = mood_bonus(a.mood, mood, scale=self.search_config.mood_bonus) if mood is not None else None

    def _mood_mean(self) -> float:
        return self._mood_sum / self._mood_seconds if self._mood_seconds > 0 else 0.0

    def _reward_now(self) -> float:
        """The episode's reward so far: the dense reward, mixed with the mood alignment when asked for a mood."""
        dense_now = self.running.potential()
        if self.mood is None:
            return dense_now
        align = mood_alignment(self._mood_mean()) if self._mood_seconds > 0 else 0.0
        w = self.reward_config.w_mood
        return (1.0 - w) * dense_now + w * align

    def _mood_context(self, out: np.ndarray, cur: int) -> None:
        out[:] = 0.0
        if self.mood is None:
            return
        w, n = self.config.window_beats, len(self._mood_d)
        out[:4] = (1.0, self.mood.arousal, self.mood.valence, self._mood_mean())
        lo, hi = cur - w // 2, cur - w // 2 + w
        out[4 + max(0, -lo) : 4 + w - max(0, hi - n)] = self._mood_d[max(0, lo) : min(n, hi)]

    def _replan(self) -> None:
        """Plan the rest of the edit from the current state (the hint's source)."""
        self._replans += 1
        self._hints = []
        if self._replans > self.config.max_replans:
            return
        st, song = self.state, self._song
        start = PlanStart(st.order[-1] if st.order else -1, st.cursor, st.out_seconds) if st.actions else None
        path = self._hint_planner.path(target_seconds=self.target, start=start, bonus=self._hint_bonus, table=self._hint_bonus is not None)
        if np.isfinite(path.cost):
            self._hints = actions_for_order(song.grid, path.order, ended=path.fade_out, state=st)[::-1]  # next hint last

    def hint(self) -> int:
        """The planner's next action, or -1 (no plan, or its action is not allowed now)."""
        return self._hints[-1] if self._hints and self._mask[self._hints[-1]] else -1

    def _compute_mask(self) -> np.ndarray:
        c = self.config
        return action_mask(self._song.grid, self.state, min_end_seconds=c.min_end_fraction * self.target,
                           max_seconds=c.max_length_factor * self.target, max_consecutive_loops=c.max_consecutive_loops)

    def _observation(self) -> dict[str, np.ndarray]:
        song, st, w = self._song, self.state, self.config.window_beats
        n = song.grid.n_beats
        cur = min(st.cursor, n - 1)
        obs = self._obs
        obs[: w * FEATURE_DIM] = song.padded[cur : cur + w].ravel()
        ctx = obs[w * FEATURE_DIM : w * FEATURE_DIM + N_CONTEXT]
        if self.config.mood_conditioning:
            self._mood_context(obs[w * FEATURE_DIM + N_CONTEXT :], cur)
        ctx[0] = st.cursor / n
        ctx[1] = min(st.out_seconds / self.target, OBS_CLIP)
        ctx[2] = min(song.suffix_seconds[min(st.cursor, n)] / self.target / 4.0, OBS_CLIP)
        ctx[3] = min(self._since_seam / 16.0, 1.0)
        ctx[4] = st.consecutive_loops / 2.0
        ctx[5:] = 0.0
        if st.actions:
            ctx[5 + st.actions[-1]] = 1.0
        h = self.hint()
        if h >= 0:
            ctx[5 + N_ACTIONS + h] = 1.0
        return {"observations": obs.copy(), "action_mask": self._mask.copy()}

    def step(self, action: int) -> tuple[dict, float, bool, bool, dict]:
        song, st = self._song, self.state
        if song is None or st.done(song.grid):
            raise RuntimeError("step() called on a finished episode; call reset()")
        info: dict[str, Any] = {}
        a = int(action)
        if not self._mask[a]:  # a masked action (e.g. from an unmasked sampler) becomes the first allowed one
            info["invalid_action"] = Action(a).name
            a = int(np.flatnonzero(self._mask)[0])
        played = apply_action(song.grid, st, a)
        follows = bool(self._hints) and self._hints[-1] == a
        if follows:
            self._hints.pop()
        for b in played:
            if self.running.last >= 0 and b != self.running.last + 1:
                self._since_seam = 0
            self._since_seam += 1
            self.running.add(b, float(song.grid.durations[b]))
            if self._mood_d is not None:
                self._mood_sum += float(self._mood_d[b] * song.grid.durations[b])
                self._mood_seconds += float(song.grid.durations[b])
        self._steps += 1
        terminated = st.done(song.grid)
        truncated = not terminated and self._steps >= self.config.max_steps
        reward = 0.0
        if self.config.reward_mode == "shaped":
            new = self._reward_now()
            reward, self._potential = new - self._potential, new
        elif terminated or truncated:
            reward = self._reward_now()
        if (terminated or truncated) and self.summarize:
            info.update(self.episode_summary())
        if terminated or truncated:
            self._mask = np.zeros(N_ACTIONS, dtype=np.float32)
            self._mask[Action.END] = 1.0
        else:
            if self.config.planner_hint and not follows:
                self._replan()
            self._mask = self._compute_mask()
        return self._observation(), float(reward), terminated, truncated, info

    def episode_summary(self) -> dict[str, Any]:
        """The plan, song id, target and dense components of the episode so far."""
        song, st = self._song, self.state
        a = song.analysis
        comps = self.running.components()
        plan = None
        if st.order:
            names = [Action(x).name for x in st.actions]
            plan = EditPlan.from_beat_order(source=a.path, sample_rate=a.sample_rate, source_duration_s=a.duration_s,
                                            beat_starts_s=a.beats_s, beat_ends_s=song.beat_ends_s, beat_order=st.order,
                                            actions=names, fade_out=st.ended)
        seq = edit_sequence(a, plan, target_seconds=self.target, tables=song.tables, grid=song.grid) if plan is not None else None
        return {"plan": plan, "song_id": a.song_id, "target_seconds": self.target, "components": comps._asdict(),
                "dense_reward": self.running.potential(), "edit_sequence": seq, "mood": self.mood,
                "mood_distance": self._mood_mean() if self.mood is not None else None}

    def promised_plan(self) -> EditPlan:
        """The finished episode's edit, completed by the planner where it misses the target.

        Training episodes keep their own length (a miss is what the reward teaches); every edit
        handed to a person goes through here (the length promise, :mod:`editor_rl.search.promise`).
        """
        song = self._song
        done = complete_to_target(song.grid, song.planner, self.state.actions, target_seconds=self.target)
        plan = plan_from_order(song.analysis, done.order, [Action(x).name for x in done.actions], fade_out=done.fade_out, repair=done.repair)
        return replace(plan, mood=self.mood) if self.mood is not None else plan

    def action_masks(self) -> np.ndarray:
        """The current action mask (the sb3-contrib convention)."""
        return self._mask.copy()


def register() -> None:
    """Register ``editor_rl/MusicEdit-v0`` with gymnasium (idempotent)."""
    if "editor_rl/MusicEdit-v0" not in gym.registry:
        gym.register(id="editor_rl/MusicEdit-v0", entry_point="editor_rl.policy.env:MusicEditEnv")


register()


def rollout(env: MusicEditEnv, choose, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict[str, Any], float]:
    """Run one episode with a policy function.

    Parameters
    ----------
    env : MusicEditEnv
    choose : callable ``(obs: dict, rng: np.random.Generator) -> int``
        Picks an allowed action from the observation (it can read ``obs["action_mask"]``).
    seed : int or None
        Reset seed; also seeds the generator handed to ``choose``.
    options : dict or None
        Reset options (``song_id``, ``target_seconds``).

    Returns
    -------
    info : dict
        The final step's info (``plan``, ``components``, …).
    episode_return : float
    """
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed, options=options)
    total_reward = 0.0
    while True:
        obs, r, terminated, truncated, info = env.step(choose(obs, rng))
        total_reward += r
        if terminated or truncated:
            return info, total_reward
