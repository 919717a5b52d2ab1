"""Candidates for raters: several edits per song, rendered, and the pairs to compare.

``editor-rl candidates --songs DIR --per-song K --temperatures 0.1,0.3,… --out DIR`` makes, for
every song and one target length, K edits from a policy (sampled at the temperatures in turn;
without a policy, the random baseline stands in) plus the search and every-other-phrase baselines,
drops duplicates, renders each to ``audio/<id>.wav`` with its EDL in ``edl/<id>.json``, scores
them with the reward model when one is given, and writes ``evaluation_manifest.json``: the
candidates and every pairwise comparison task between candidates of the same song, each with the
reward model's P(a preferred) and an uncertainty in [0, 1] (``1 − |2p − 1|``; 1 = the model cannot
tell) that the feedback service uses to ask raters about the least certain pairs first.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path
from typing import Mapping, NamedTuple, Sequence

import numpy as np

from editor_rl.audio.analysis import SongAnalysis
from editor_rl.config import Config
from editor_rl.edit.baselines import baseline_edit
from editor_rl.edit.plan import EditPlan
from editor_rl.errors import EditorRLError
from editor_rl.preferences.store import CandidateRow, PairRow, PreferenceStore

MANIFEST = "evaluation_manifest.json"


class Manifest(NamedTuple):
    """What :func:`make_candidates` wrote: ``candidates`` and ``pairs`` (store rows) and its ``path``."""

    candidates: list[CandidateRow]
    pairs: list[PairRow]
    path: Path


def _pairs(rows: Sequence[CandidateRow]) -> list[PairRow]:
    out = []
    for a, b in itertools.combinations(rows, 2):
        p = None
        if a.reward is not None and b.reward is not None:
            p = float(1.0 / (1.0 + np.exp(-(a.reward - b.reward))))
        u = 0.5 if p is None else 1.0 - abs(2.0 * p - 1.0)
        out.append(PairRow(f"{a.candidate_id}~{b.candidate_id}", a.song_id, a.candidate_id, b.candidate_id, a.target_seconds, p, u))
    return out


def make_candidates(
    analyses: Mapping[str, SongAnalysis],
    *,
    out_dir: str | Path,
    per_song: int = 4,
    temperatures: Sequence[float] = (0.1, 0.3, 0.5, 0.7, 0.9),
    target_ratio: float = 0.6,
    module=None,
    scorer=None,
    config: Config = Config(),
    seed: int = 0,
) -> Manifest:
    """Make, render and score candidates; write the manifest (see the module docstring).

    Parameters
    ----------
    analyses : mapping of song id to SongAnalysis
    out_dir : path
    per_song : int
        Policy (or random-baseline) edits per song, before duplicates are dropped.
    temperatures : sequence of float
        Sampling temperatures, used in turn.
    target_ratio : float
        Target length as a fraction of each song.
    module : RLModule or None
        The policy; None uses the random baseline at the temperature (scaled ×3).
    scorer : RewardScorer or None
        Scores candidates (reward and ensemble spread) and so ranks the pairs.
    config : Config
    seed : int

    Raises
    ------
    EditorRLError
        ``per_song`` < 1, no temperatures, or a ratio outside (0, 1].
    """
    from editor_rl.audio.io import decode_audio, write_audio
    from editor_rl.edit.render import render_plan
    from editor_rl.rewards.sequence import edit_sequence

    if per_song < 1:
        raise EditorRLError(f"per_song={per_song}: must be at least 1")
    if not temperatures or any(t < 0 for t in temperatures):
        raise EditorRLError(f"temperatures={list(temperatures)}: need at least one, each >= 0")
    if not 0 < target_ratio <= 1:
        raise EditorRLError(f"target_ratio={target_ratio}: must be in (0, 1]")
    out = Path(out_dir)
    (out / "audio").mkdir(parents=True, exist_ok=True)
    (out / "edl").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    all_rows: list[CandidateRow] = []
    all_pairs: list[PairRow] = []
    for song_id, a in analyses.items():
        target = round(target_ratio * a.duration_s, 2)
        temps = [float(temperatures[k % len(temperatures)]) for k in range(per_song)]
        seeds = [int(rng.integers(1 << 31)) for _ in temps]
        plans: list[tuple[str, float | None, EditPlan]]
        if module is not None:  # the song's K policy edits in one lockstep batch
            from editor_rl.rl.policy import policy_edits

            edits = policy_edits(module, [(a, target, t, s) for t, s in zip(temps, seeds)], config=config)
            plans = [("policy", t, p) for t, p in zip(temps, edits)]
        else:
            plans = [("random", t, baseline_edit("random", a, target_seconds=target, config=config, seed=s, temperature=max(3 * t, 0.05)))
                     for t, s in zip(temps, seeds)]
        for name in ("search", "every_other_phrase"):
            plans.append((name, None, baseline_edit(name, a, target_seconds=target, config=config)))
        seen, unique = set(), []
        for source, t, p in plans:
            key = tuple(p.beat_order)
            if key not in seen:
                seen.add(key)
                unique.append((source, t, p))
        rewards = stds = [None] * len(unique)
        if scorer is not None:
            r, sd = scorer.score([edit_sequence(a, p, target_seconds=target) for _, _, p in unique])
            rewards, stds = [float(x) for x in r], [float(x) for x in sd]
        audio = decode_audio(a.path)
        rows = []
        for i, ((source, t, p), r, sd) in enumerate(zip(unique, rewards, stds)):
            cid = f"{song_id}-{i:02d}-{source}" + ("" if t is None else f"-t{t:g}")
            wav = write_audio(out / "audio" / f"{cid}.wav", render_plan(audio, p, config=config.render), sample_rate=audio.sample_rate)
            p.save(out / "edl" / f"{cid}.json")
            rows.append(CandidateRow(cid, song_id, target, p.to_edl(), str(wav.resolve()), source, t, r, sd))
        all_rows += rows
        all_pairs += _pairs(rows)
    manifest = {"target_ratio": target_ratio, "temperatures": list(temperatures), "per_song": per_song,
                "candidates": [r._asdict() | {"edl": f"edl/{r.candidate_id}.json"} for r in all_rows],
                "pairs": [p._asdict() for p in sorted(all_pairs, key=lambda p: -p.uncertainty)]}
    path = out / MANIFEST
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, path)
    return Manifest(all_rows, all_pairs, path)


def load_manifest(path: str | Path, *, store: PreferenceStore) -> tuple[int, int]:
    """Put a manifest's candidates and pairs into ``store``; returns (candidates, pairs) added.

    Raises
    ------
    EditorRLError
        The manifest is missing or malformed.
    """
    p = Path(path)
    if p.is_dir():
        p = p / MANIFEST
    try:
        data = json.loads(p.read_text())
        for c in data["candidates"]:
            edl = json.loads((p.parent / c["edl"]).read_text()) if isinstance(c["edl"], str) else c["edl"]
            store.add_candidate(CandidateRow(c["candidate_id"], c["song_id"], float(c["target_seconds"]), edl, c["audio_path"], c["source"],
                                             c["temperature"], c["reward"], c["reward_std"]))
        for q in data["pairs"]:
            store.add_pair(PairRow(q["pair_id"], q["song_id"], q["a_id"], q["b_id"], float(q["target_seconds"]), q["p_model_a"], float(q["uncertainty"])))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise EditorRLError(f"{p}: not a readable candidates manifest ({e})") from e
    return len(data["candidates"]), len(data["pairs"])
