"""Candidates for raters: several edits per song, rendered, and the pairs to compare.

``editor-rl candidates --songs DIR --per-song K --temperatures 0.1,0.3,… --out DIR`` makes, for
every song and one target length, K edits from a policy (sampled at the temperatures in turn;
without a policy, the random baseline stands in) plus the search, plain-cut and every-other-phrase
baselines, ``section_plans`` searches that favour random sections (made by ``"baseline:section"``,
so a round offers edits unlike both the policy's and the search's), ``windows`` contiguous stretches
and ``one_cuts`` edits keeping the opening and the ending — the kinds best of N serves — every
one keeping the length promise — drops duplicates, renders each to ``audio/<id>.wav`` with its EDL
in ``edl/<id>.json``, scores them with the reward model when one is
given, and writes ``evaluation_manifest.json``: the candidates and every pairwise comparison task
between candidates of the same song, each with the reward model's P(a preferred) and an
uncertainty in [0, 1] (:func:`~editor_rl.rewards.active.pair_uncertainty`: closeness of P to ½
and the ensemble's disagreement) that the feedback service uses to ask raters about the least
certain pairs first.

Candidate ids are content addresses (:func:`~editor_rl.preferences.store.candidate_id`: the song's
bytes, the target, the edit and the model that made it), so making candidates again — with a new
policy, or the same one — never changes what an existing id means, and a rendered file is never
overwritten with other audio.
"""

from __future__ import annotations

import functools
import itertools
import json
from pathlib import Path
from typing import Mapping, NamedTuple, Sequence

import numpy as np

from editor_rl.audio.analysis import SongAnalysis
from editor_rl.config.atomic import write_text_atomic
from editor_rl.editors.baselines import baseline_edit, one_cut_edits, section_search_edits, window_edits
from editor_rl.config import Config
from editor_rl.edit.plan import EditPlan
from editor_rl.errors import EditorRLError
from editor_rl.policy.rollouts import policy_edits
from editor_rl.rewards.active import pair_uncertainty
from editor_rl.preferences.store import CandidateRow, PairRow, PreferenceStore
from editor_rl.preferences.store_schema import candidate_id

MANIFEST = "evaluation_manifest.json"


class Manifest(NamedTuple):
    """What :func:`make_candidates` wrote: ``candidates`` and ``pairs`` (store rows) and its ``path``."""

    candidates: list[CandidateRow]
    pairs: list[PairRow]
    path: Path


def _pairs(rows: Sequence[CandidateRow], members: Sequence[np.ndarray | None]) -> list[PairRow]:
    """Every comparison between candidates of one song and target, with the model's P(a) and uncertainty."""
    out = []
    for (a, ma), (b, mb) in itertools.combinations(zip(rows, members), 2):
        p, u = pair_uncertainty(ma, mb) if ma is not None else (None, 0.5)
        out.append(PairRow(f"{a.candidate_id}~{b.candidate_id}", a.song_id, a.candidate_id, b.candidate_id, a.target_seconds, p, u))
    return out


@functools.lru_cache(maxsize=2)
def _decoded(path: str):
    """A song's decoded audio (the last two kept: candidates are made song by song)."""
    from editor_rl.audio.io import decode_audio

    return decode_audio(path)


def write_candidate(a: SongAnalysis, plan: EditPlan, *, out_dir: Path, target_seconds: float, source: str, model: str, config: Config,
                    temperature: float | None = None, reward: float | None = None, reward_std: float | None = None) -> CandidateRow:
    """Render one candidate to ``<out_dir>/audio/<id>.wav`` (unless that content-addressed file exists)
    with its EDL in ``<out_dir>/edl/<id>.json``; its store row."""
    from editor_rl.audio.io import write_audio
    from editor_rl.edit.render import render_plan

    edl = plan.to_edl()
    cid = candidate_id(song_hash=a.content_hash, target_seconds=target_seconds, edl=edl, model=model, source=source)
    (out_dir / "audio").mkdir(parents=True, exist_ok=True)
    (out_dir / "edl").mkdir(parents=True, exist_ok=True)
    wav = out_dir / "audio" / f"{cid}.wav"
    if not wav.is_file():  # content-addressed: an existing file already holds this edit
        audio = _decoded(a.path)
        write_audio(wav, render_plan(audio, plan, config=config.render), sample_rate=audio.sample_rate)
    plan.save(out_dir / "edl" / f"{cid}.json")
    return CandidateRow(cid, a.song_id, target_seconds, edl, str(wav.resolve()), source, temperature, reward, reward_std, model)


def make_candidates(
    analyses: Mapping[str, SongAnalysis],
    *,
    out_dir: str | Path,
    per_song: int = 4,
    temperatures: Sequence[float] = (0.1, 0.3, 0.5, 0.7, 0.9),
    target_ratio: float = 0.6,
    section_plans: int = 0,
    windows: int = 0,
    one_cuts: int = 0,
    module=None,
    model: str = "",
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
        Sampling temperatures, used in turn. ``target_ratio``: target length / song length.
    section_plans : int
        Searches favouring random sections per song (:func:`~editor_rl.editors.baselines.section_search_edits`).
    windows, one_cuts : int
        Windows and one-cut edits per song (:func:`~editor_rl.editors.baselines.window_edits`, :func:`~editor_rl.editors.baselines.one_cut_edits`).
    module : RLModule or None
        The policy; None uses the random baseline at the temperature (scaled ×3).
    model : str
        The policy's identity (:func:`editor_rl.policy.load.policy_identity`, or a model version), part
        of its candidates' ids.
    scorer : RewardScorer or None
        Scores candidates (reward and ensemble spread) and so ranks the pairs.

    Raises
    ------
    EditorRLError
        ``per_song`` < 1, no temperatures, or a ratio outside (0, 1].
    """
    _check(per_song=per_song, temperatures=temperatures, target_ratio=target_ratio, section_plans=section_plans)
    out = Path(out_dir)
    for sub in ("audio", "edl"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    temps = [float(temperatures[k % len(temperatures)]) for k in range(per_song)]
    all_rows: list[CandidateRow] = []
    all_pairs: list[PairRow] = []
    for a in analyses.values():
        target = round(target_ratio * a.duration_s, 2)
        plans = _song_plans(a, target=target, temps=temps, rng=rng, module=module, section_plans=section_plans, windows=windows, one_cuts=one_cuts, config=config)
        rows, pairs = _write_song(a, plans, out=out, target=target, model=model, scorer=scorer, config=config)
        all_rows, all_pairs = all_rows + rows, all_pairs + pairs
    manifest = {"target_ratio": target_ratio, "temperatures": list(temperatures), "per_song": per_song,
                "candidates": [r._asdict() | {"edl": f"edl/{r.candidate_id}.json"} for r in all_rows],
                "pairs": [p._asdict() for p in sorted(all_pairs, key=lambda p: -p.uncertainty)]}
    return Manifest(all_rows, all_pairs, _write_json(out / MANIFEST, manifest))


def _write_json(path: Path, data: dict) -> Path:
    """Write ``data`` to ``path`` atomically (a reader never sees half a file)."""
    return write_text_atomic(path, json.dumps(data, indent=1))


def _check(*, per_song: int, temperatures: Sequence[float], target_ratio: float, section_plans: int) -> None:
    if per_song < 1:
        raise EditorRLError(f"per_song={per_song}: must be at least 1")
    if not temperatures or any(t < 0 for t in temperatures):
        raise EditorRLError(f"temperatures={list(temperatures)}: need at least one, each >= 0")
    if not 0 < target_ratio <= 1:
        raise EditorRLError(f"target_ratio={target_ratio}: must be in (0, 1]")
    if section_plans < 0:
        raise EditorRLError(f"section_plans={section_plans}: must be >= 0")


def _song_plans(a: SongAnalysis, *, target: float, temps: list[float], rng: np.random.Generator, module, section_plans: int, windows: int,
                one_cuts: int, config: Config) -> list[tuple[str, float | None, EditPlan]]:
    """One song's candidate edits as (source, temperature, plan), duplicates (the same beat order) dropped."""
    seeds = [int(rng.integers(1 << 31)) for _ in temps]
    plans: list[tuple[str, float | None, EditPlan]]
    if module is not None:  # the song's K policy edits in one lockstep batch
        edits = policy_edits(module, [(a, target, t, s) for t, s in zip(temps, seeds)], config=config)
        plans = [("policy", t, p) for t, p in zip(temps, edits)]
    else:
        plans = [("random", t, baseline_edit("random", a, target_seconds=target, config=config, seed=s, temperature=max(3 * t, 0.05)))
                 for t, s in zip(temps, seeds)]
    for name in ("search", "plain_cut", "every_other_phrase"):
        plans.append((name, None, baseline_edit(name, a, target_seconds=target, config=config)))
    plans += [("section", None, p) for p in section_search_edits(a, target_seconds=target, config=config, rng=rng, count=section_plans)]
    plans += [("window", None, p) for p in window_edits(a, target_seconds=target, count=windows)] if windows else []
    plans += [("one_cut", None, p) for p in one_cut_edits(a, target_seconds=target, count=one_cuts)] if one_cuts else []
    seen, unique = set(), []
    for source, t, p in plans:
        key = tuple(p.beat_order)
        if key not in seen:
            seen.add(key)
            unique.append((source, t, p))
    return unique


def _write_song(a: SongAnalysis, plans: list[tuple[str, float | None, EditPlan]], *, out: Path, target: float, model: str, scorer,
                config: Config) -> tuple[list[CandidateRow], list[PairRow]]:
    """Score (when a reward model is given), render and write one song's candidates; their pairs."""
    from editor_rl.rewards.sequence import edit_sequence

    members: list[np.ndarray | None] = [None] * len(plans)
    if scorer is not None:
        members = list(scorer.score_members([edit_sequence(a, p, target_seconds=target) for _, _, p in plans]))
    rows = []
    for (source, t, p), m in zip(plans, members):
        made_by = (model or "policy") if source == "policy" else f"baseline:{source}" + ("" if t is None else f"@t{t:g}")
        rows.append(write_candidate(a, p, out_dir=out, target_seconds=target, source=source, model=made_by, temperature=t,
                                    reward=None if m is None else float(m.mean()), reward_std=None if m is None else float(m.std()), config=config))
    return rows, _pairs(rows, members)


def load_manifest(path: str | Path, *, store: PreferenceStore, retire_others: bool = False) -> tuple[int, int]:
    """Put a manifest's candidates and pairs into ``store``; returns (candidates, pairs) in it.

    Stored candidates keep their content (their ids are content addresses); with ``retire_others``
    every stored pair not in this manifest stops being offered to raters (a new round's candidates
    replace the last round's; judgements are kept).

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
                                             c["temperature"], c["reward"], c["reward_std"], c.get("model", "")))
        for q in data["pairs"]:
            store.add_pair(PairRow(q["pair_id"], q["song_id"], q["a_id"], q["b_id"], float(q["target_seconds"]), q["p_model_a"], float(q["uncertainty"])))
        if retire_others:
            store.retire_pairs(keep={q["pair_id"] for q in data["pairs"]})
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise EditorRLError(f"{p}: not a readable candidates manifest ({e})") from e
    return len(data["candidates"]), len(data["pairs"])
