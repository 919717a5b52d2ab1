"""The Serve deployments behind the ingress: the editor (policy), the feedback store, the reward model.

- :class:`Editor` resolves a song (a stored song id, or an upload the ingress staged in
  ``<data>/uploads`` (:mod:`editor_rl.serving.uploads`): validated, analysed and kept there by content hash,
  where every replica finds them), runs the policy on
  a batch of requests at once (``@serve.batch``: the envs step in lockstep, one forward pass per
  step) in a worker thread, so the replica's event loop stays free for health checks and audio
  downloads. An edit answers at once with its EDL and ``audio_url``: what to render is written
  beside the renders (``<edit id>.json``: the song and the EDL) and the audio is rendered when it is
  first fetched, by whichever replica gets the request. A best edit (temperature 0) is cached by
  (song content, target to the millisecond, served version, rater): the same request again is
  answered from memory, and a promoted version, a new name, never meets its parent's entries.
  Renders and uploads are kept within ``config.serve``'s bounds, least recently used first.
- :class:`Feedback` owns the :class:`~editor_rl.preferences.store.PreferenceStore` (SQLite, WAL).
- :class:`Reward` scores edits with the reward model (agreement figures, ranking new candidates).

Each deployment caps its queue (``max_queued_requests``), so overload answers 503 instead of
queueing forever.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import gc
import json
import os
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ray import serve

from editor_rl.audio.analysis import warm_up
from editor_rl.audio.mood import Mood
from editor_rl.config import Config
from editor_rl.config.atomic import write_text_atomic
from editor_rl.corpus.store import song_id
from editor_rl.errors import EditorRLError, InvalidAudioError
from editor_rl.serving.housekeeping import prune, touch
from editor_rl.serving.uploads import keep_upload

EDIT_CACHE = 256
"""Best edits a replica keeps in memory, least recently used out first (each with the reward
model's view of it: about 0.2 MB for a 3-minute song)."""
PRUNE_EVERY_S = 10.0
"""The renders folder is pruned after an edit at most this often (seconds): each prune reads every file's size and age."""
ANALYSES_KEPT = 64
"""Song analyses a replica keeps in memory (about 0.3 MB each for a 3-minute song); the feature
store on disk keeps them all."""


@dataclass(frozen=True)
class ServeSettings:
    """What the app serves: the policy ``checkpoint``, the ``data_dir`` (store, uploads, renders,
    token), the songs one can edit by id (``songs_dir``), candidates for raters (``candidates_dir``
    with an ``evaluation_manifest.json``, loaded into the store at start), the preference ``store``
    (a ``postgresql://`` URL; empty: SQLite at ``<data_dir>/preferences.sqlite``), an optional
    ``reward`` checkpoint and the ``config``; ``max_body_bytes`` caps uploads; with
    ``max_ongoing_edits`` edits in progress and ``max_queued_requests`` waiting, ``/api/edit``
    answers 503."""

    checkpoint: str
    data_dir: str
    songs_dir: str = ""
    candidates_dir: str = ""
    store: str = ""
    reward: str = ""
    config: Config = Config()
    max_body_bytes: int = 32 * 1024 * 1024
    max_queued_requests: int = 64
    max_ongoing_edits: int = 16
    editor_replicas: int = 1

    def __repr__(self) -> str:  # a store URL may carry a password: never print it
        from editor_rl.preferences.store import redact

        return f"ServeSettings(checkpoint={self.checkpoint!r}, data_dir={self.data_dir!r}, store={redact(self.store)!r}, reward={self.reward!r})"


def settle_heap() -> None:
    """Keep what a replica loaded at start out of the garbage collector's full passes
    (``gc.freeze``): Ray's, torch's and RLlib's ~300 000 objects made a full collection take about
    220 ms, a pause of whatever request ran then (a render, a best edit); they live as long as the
    replica anyway. Call it last in a replica's ``__init__``."""
    gc.collect()
    gc.freeze()


@serve.deployment(ray_actor_options={"num_cpus": 0.25}, max_ongoing_requests=16, max_queued_requests=64)
class Editor:
    """Edits songs with the policy (see the module docstring)."""

    def __init__(self, settings: ServeSettings) -> None:
        import torch

        from editor_rl.corpus.store import FeatureStore, list_songs
        from editor_rl.serving.served import ServedModels

        torch.set_num_threads(1)
        self.settings, self.config = settings, settings.config
        data = Path(settings.data_dir)
        self.uploads, self.renders = data / "uploads", data / "renders"
        self.uploads.mkdir(parents=True, exist_ok=True)
        self.renders.mkdir(parents=True, exist_ok=True)
        self.store = FeatureStore(data / "features")
        self.models = ServedModels(data, checkpoint=settings.checkpoint, reward=settings.reward)
        self.models.for_rater(None)  # load the served version now, not at the first request
        # Songs by id: the songs folder and earlier uploads (so a restarted replica knows them all).
        folders = [Path(settings.songs_dir)] if settings.songs_dir else []
        self.songs: dict[str, Path] = {p.stem: p for d in folders + [self.uploads] if d.is_dir() for p in list_songs(d)}
        self._analyses: OrderedDict[str, object] = OrderedDict()  # analyses by path, most recent last (ANALYSES_KEPT)
        self._analyses_lock = threading.Lock()  # uploads and the edit thread share them
        self._audio: OrderedDict[str, object] = OrderedDict()  # decoded songs, most recent last (a few)
        self._audio_lock = threading.Lock()  # the edit and render threads share the decoded songs
        self._pruned_at = -float("inf")  # when the renders were last pruned (time.monotonic())
        self._edits: OrderedDict[tuple, dict] = OrderedDict()  # best edits by (content, target ms, version, rater)
        self._worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="editor")  # rollouts, one batch at a time
        self._renderer = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="render")  # audio, when first fetched
        self.replica = serve.get_replica_context().replica_id.unique_id  # answers say which replica made them (X-Editor-Replica)
        warm_up(config=self.config)  # the first upload is analysed as fast as the next
        settle_heap()

    def _decoded(self, path: str):
        from editor_rl.audio.io import decode_audio

        with self._audio_lock:
            if path in self._audio:
                self._audio.move_to_end(path)
            else:
                self._audio[path] = decode_audio(path)
                while len(self._audio) > 4:
                    self._audio.popitem(last=False)
            return self._audio[path]

    def _analysis(self, path: Path, content_hash: str | None = None):
        key = str(path)
        with self._analyses_lock:
            if key in self._analyses:
                self._analyses.move_to_end(key)
                return self._analyses[key]
        return self._keep_analysis(key, self.store.load_song(path, config=self.config, content_hash=content_hash))

    def _keep_analysis(self, key: str, analysis):
        """Keep ``analysis`` under ``key`` (the least recently used out past ANALYSES_KEPT); returns it."""
        with self._analyses_lock:
            self._analyses[key] = analysis
            while len(self._analyses) > ANALYSES_KEPT:
                self._analyses.popitem(last=False)
        return analysis

    def _song_path(self, song_id: str) -> Path:
        """Where a song id's audio is: a stored song, or an upload any replica saved (KeyError if none)."""
        path = self.songs.get(song_id)
        if path is None and song_id.startswith("upload-") and song_id[7:].isalnum():
            found = sorted(self.uploads.glob(f"{song_id}.*"))
            path = found[0] if found else None
        if path is None or not path.is_file():  # unknown, or an upload pruned since
            self.songs.pop(song_id, None)
            raise KeyError(song_id)
        self.songs[song_id] = path
        if path.parent == self.uploads:
            touch(path)
        return path

    def save_upload(self, staged: str, filename: str) -> str:
        """Validate and keep an upload the ingress staged (:func:`~editor_rl.serving.uploads.keep_upload`:
        safe to repeat); returns its song id (``upload-<hash>``).

        Raises
        ------
        InvalidAudioError
            Not audio, truncated, silent, too long (the message says which, naming ``filename``), or
            no staged upload at ``staged``.
        """
        try:
            sid, path, analysis = keep_upload(Path(staged), uploads=self.uploads, filename=filename,
                                              analyse=lambda p, digest: self._analysis(p, content_hash=digest))
        finally:
            with self._analyses_lock:
                self._analyses.pop(staged, None)
        if analysis is not None:  # newly kept
            self._keep_analysis(str(path), dataclasses.replace(analysis, song_id=song_id(path), path=str(path)))  # the edit to come needs no second hash
            sc = self.config.serve
            prune(self.uploads, max_bytes=sc.uploads_max_mb * 2**20, max_age_s=sc.uploads_max_age_h * 3600)
        self.songs[sid] = path
        touch(path)
        return sid

    def _edit_jobs(self, jobs: list[tuple[str, float, float, str | None, Mood | None]]) -> list[dict | Exception]:
        """The blocking work of a batch (policy rollouts, best of N, rendering), run in a worker thread.

        A job is (song id, target seconds, temperature, rater, mood); temperature 0 asks for the served
        version's best edit (best of N by its reward model, when it has one; with a mood, steered
        toward it), above 0 for a sample of its policy.
        """
        from editor_rl.search.promise import check_target
        from editor_rl.rewards.sequence import edit_sequence

        results: list[dict | Exception] = [None] * len(jobs)  # type: ignore[list-item]
        ready: dict[str, list] = {}
        keys: dict[int, tuple] = {}
        for i, (sid, target, temp, rater, mood) in enumerate(jobs):
            try:
                a = self._analysis(self._song_path(sid))
                check_target(a, target)
                served = self.models.for_rater(rater)
                if temp == 0:  # the best edit is the same every time: cached
                    keys[i] = (a.content_hash, round(target * 1000), served.name, rater or "", json.dumps(mood.to_json()) if mood else "")
                    hit = self._edits.get(keys[i])
                    if hit is not None and (self.renders / f"{hit['edit_id']}.json").is_file():  # not pruned since
                        self._edits.move_to_end(keys[i])
                        results[i] = hit | {"song_id": sid}
                        continue
                ready.setdefault(served.name, []).append((i, a, served))
            except Exception as e:  # noqa: BLE001 - each request gets its own error
                results[i] = e
        for group in ready.values():
            served = group[0][2]
            plans, scores = self._plan_group(group, jobs, served)
            for i, a, _ in group:  # an edit without its reward model's score carries what the Reward deployment scores
                seq = None if i in scores else edit_sequence(a, plans[i], target_seconds=jobs[i][1])
                results[i] = self._made(a, plans[i], song=jobs[i][0], target=jobs[i][1], served=served, sequence=seq) | scores.get(i, {})
                if i in keys:
                    self._remember(keys[i], results[i])
        if ready and time.monotonic() - self._pruned_at > PRUNE_EVERY_S:  # a scan of every render: not on each request
            sc = self.config.serve
            prune(self.renders, max_bytes=sc.renders_max_mb * 2**20, max_age_s=sc.renders_max_age_h * 3600)
            self._pruned_at = time.monotonic()
        return results

    def _made(self, a, plan, *, song: str, target: float, served, sequence=None) -> dict:
        """Keep an edit's recipe (its song, EDL and request: rendered when fetched, "another one" of
        it on demand) and return its answer (with the model's view of it, ``sequence``, when given:
        an edit not yet scored; a best edit comes with its score and without it)."""
        eid = uuid.uuid4().hex[:16]
        request = {"song_id": song, "target_seconds": target, "mood": plan.mood.to_json() if plan.mood else None, "content_hash": a.content_hash}
        edl = plan.to_edl()
        write_text_atomic(self.renders / f"{eid}.json", json.dumps({"song": str(a.path), "edl": edl, "request": request}))
        return {"edit_id": eid, "song_id": song, "edl": edl, "duration_s": plan.duration_s, "audio_url": f"/api/audio/{eid}",
                "model_version": served.name, "replica": self.replica, "mood": request["mood"]} | ({"sequence": sequence} if sequence is not None else {})

    def _another(self, edit_id: str, rater: str | None) -> dict:
        """The favourite of an earlier best edit's job other than that edit (its runner-up), and the
        two edits' records for a pair to judge.

        Raises
        ------
        KeyError
            No such edit (or it was pruned).
        EditorRLError
            The edit was not a best edit of this service's (no request kept) or no reward model is served.
        """
        from editor_rl.audio.mood import parse_mood
        from editor_rl.editors.best_of import best_picks, job_seed

        try:
            recipe = json.loads((self.renders / f"{edit_id}.json").read_text()) if edit_id.isalnum() else None
        except FileNotFoundError:
            recipe = None
        if recipe is None:
            raise KeyError(edit_id)
        req, served = recipe.get("request"), self.models.for_rater(rater)
        if req is None or served.scorer is None:
            raise EditorRLError(f"edit {edit_id!r}: another one needs a best edit made by a service with a reward model")
        a, t, mood = self._analysis(self._song_path(req["song_id"])), req["target_seconds"], served.mood_head.mood(parse_mood(req["mood"]))
        (pick,) = best_picks(served.module, [(a, t, job_seed(a, t))], scorer=served.scorer, config=self.config, moods=[mood],
                             exclude=[tuple(recipe["edl"].get("beat_order", ()))])
        out = self._made(a, pick.plan, song=req["song_id"], target=t, served=served) | {"reward": pick.mean, "reward_std": pick.spread}
        sides = [{"edl": e, "audio_path": str(self.renders / f"{i}.wav")} for e, i in ((recipe["edl"], edit_id), (out["edl"], out["edit_id"]))]
        return out | {"pair_request": {"song_id": req["song_id"], "target_seconds": t, "song_hash": req["content_hash"], "model": served.name, "sides": sides}}

    async def another(self, edit_id: str, rater: str | None = None) -> dict | Exception:
        """"Another one" of edit ``edit_id`` (see :meth:`_another`); the answer, or the exception to report."""
        try:
            return await asyncio.get_running_loop().run_in_executor(self._worker, self._another, edit_id, rater)
        except Exception as e:  # noqa: BLE001 - reported to the caller as an HTTP answer
            return e

    def song_ids(self) -> list[str]:
        """The stored songs' ids (not uploads), sorted."""
        return sorted(s for s in self.songs if not s.startswith("upload-"))

    def _plan_group(self, group: list, jobs: list, served) -> tuple[dict, dict]:
        """The plans of one served version's jobs (index → plan) and the reward model's scores of
        its best edits (from their pick: nothing scored twice)."""
        from editor_rl.editors.best_of import best_picks, job_seed
        from editor_rl.editors.mood import mood_search_edits
        from editor_rl.policy.rollouts import policy_edits

        seeds = [int(x) for x in np.random.default_rng().integers(1 << 31, size=len(group))]  # a new sample per request at temperature > 0
        best = [(i, a, job_seed(a, jobs[i][1])) for i, a, _ in group if jobs[i][2] == 0 and served.scorer is not None]  # reproducible
        sampled = [(i, a, s) for (i, a, _), s in zip(group, seeds) if not (jobs[i][2] == 0 and served.scorer is not None)]
        plans, scores = {}, {}
        if best:  # the reward model's favourite, with its score
            picks = best_picks(served.module, [(a, jobs[i][1], s) for i, a, s in best], scorer=served.scorer, config=self.config,
                               moods=[served.mood_head.mood(jobs[i][4]) for i, _, _ in best])  # a named mood where this version's listeners hear it
            plans |= {i: p.plan for (i, _, _), p in zip(best, picks)}
            scores |= {i: {"reward": p.mean, "reward_std": p.spread} for (i, _, _), p in zip(best, picks)}
        steered = [(i, a) for i, a, _ in sampled if jobs[i][4] is not None]  # a mood without a reward model: the search toward it
        plans |= {i: dataclasses.replace(mood_search_edits(a, target_seconds=jobs[i][1], mood=jobs[i][4], config=self.config, strengths=(1.0,))[0], mood=jobs[i][4])
                  for i, a in steered}
        sampled = [(i, a, s) for i, a, s in sampled if jobs[i][4] is None]
        if sampled:
            plans |= dict(zip([i for i, _, _ in sampled], policy_edits(served.module, [(a, jobs[i][1], jobs[i][2], s) for i, a, s in sampled], config=self.config)))
        return plans, scores

    # No wait for a batch to fill: requests that arrive while one batch runs make the next (one
    # worker thread runs them), so batches form under load and a lone request starts at once.
    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.0)
    async def _edit_batch(self, jobs: list[tuple[str, float, float, str | None, Mood | None]]) -> list[dict | Exception]:
        return await asyncio.get_running_loop().run_in_executor(self._worker, self._edit_jobs, jobs)

    async def edit(self, song_id: str, target_seconds: float, temperature: float, rater: str | None = None, mood: Mood | None = None) -> dict | Exception:
        """Edit a registered song for ``rater`` (their own promoted version, if any), in ``mood`` if
        given; the response dict, or the exception to report."""
        return await self._edit_batch((song_id, float(target_seconds), float(temperature), rater, mood))

    def _remember(self, key: tuple, result: dict) -> None:
        self._edits[key] = result
        while len(self._edits) > EDIT_CACHE:
            self._edits.popitem(last=False)

    async def render_path(self, edit_id: str) -> str | None:
        """Where a made edit's audio is, rendered now if this is its first fetch (and mark it used), or None."""
        if not edit_id.isalnum():
            return None
        wav = self.renders / f"{edit_id}.wav"
        if not wav.is_file():
            if not (self.renders / f"{edit_id}.json").is_file():
                return None
            if not await asyncio.get_running_loop().run_in_executor(self._renderer, self._render, edit_id):
                return None
        touch(wav)
        touch(wav.with_suffix(".json"))
        return str(wav)

    def _render(self, edit_id: str) -> bool:
        """Render edit ``edit_id`` from its ``.json`` (song and EDL); False if its song is gone."""
        from editor_rl.audio.io import write_audio
        from editor_rl.edit.plan import EditPlan
        from editor_rl.edit.render import render_plan

        wav = self.renders / f"{edit_id}.wav"
        if wav.is_file():  # rendered meanwhile
            return True
        try:
            recipe = json.loads((self.renders / f"{edit_id}.json").read_text())
            audio = self._decoded(recipe["song"])
        except (FileNotFoundError, InvalidAudioError):  # pruned since the edit (the recipe, or an upload)
            return False
        plan = EditPlan.from_edl(recipe["edl"], source_duration_s=audio.duration_s)
        tmp = self.renders / f".{edit_id}.{uuid.uuid4().hex[:8]}.wav"
        write_audio(tmp, render_plan(audio, plan, config=self.config.render), sample_rate=audio.sample_rate)
        os.replace(tmp, wav)
        return True


@serve.deployment(ray_actor_options={"num_cpus": 0.1}, max_ongoing_requests=64, max_queued_requests=256)
class Feedback:
    """The preference store behind the feedback routes."""

    def __init__(self, settings: ServeSettings) -> None:
        from editor_rl.rlhf.datadir import store_location
        from editor_rl.preferences.store import PreferenceStore

        from editor_rl.rlhf.registry import ModelRegistry

        self.store = PreferenceStore(settings.store or store_location(settings.data_dir))
        self.registry = ModelRegistry(settings.data_dir)
        if settings.candidates_dir:  # idempotent: the same ids are replaced, judgements kept
            self.load_manifest(settings.candidates_dir)
        settle_heap()

    def samples(self, rater_id: str, n: int) -> list[dict]:
        """The ``n`` pairs this rater judges next, with both candidates: the least certain pairs this
        rater has not judged (active learning), every other one a pending version's verification pair
        while there are any (:mod:`editor_rl.rlhf.verification`)."""
        verify = self.store.verification_pairs(rater_id=rater_id, n=n)
        learn = self.store.next_pairs(rater_id=rater_id, n=n)
        mixed = []
        while len(mixed) < n and (verify or learn):
            for source in (verify, learn):
                if source and len(mixed) < n:
                    mixed.append(source.pop(0))
        out = []
        for p in mixed:
            a, b = self.store.candidate(p.a_id), self.store.candidate(p.b_id)
            out.append({"pair_id": p.pair_id, "song_id": p.song_id, "target_seconds": p.target_seconds, "uncertainty": p.uncertainty,
                        "a": {"candidate_id": a.candidate_id, "audio_url": f"/api/audio/{a.candidate_id}", "edl": a.edl},
                        "b": {"candidate_id": b.candidate_id, "audio_url": f"/api/audio/{b.candidate_id}", "edl": b.edl}})
        return out

    def submit(self, body: dict) -> dict:
        """Store a judgement; one of a verification pair may settle its version's round.

        Raises
        ------
        KeyError
            An unknown pair.
        ForbiddenError
            A verification pair of another rater's personal version (nothing is stored).
        """
        from editor_rl.errors import ForbiddenError
        from editor_rl.rlhf.verification import settle

        check = self.store.verification(body["pair_id"])
        if check is not None and check.rater_id is not None and check.rater_id != body["rater_id"]:
            raise ForbiddenError(f"pair {body['pair_id']!r} verifies {check.rater_id}'s own version {check.version}: only {check.rater_id} judges it")
        out = self.store.submit(**body)._asdict()
        if check is not None:
            out |= {"version": check.version, "verdict": settle(self.store, self.registry, check.version).status}
        return out

    def pair_of_edits(self, request: dict) -> str:
        """Store two edits a person made of one job (an edit and "another one") as candidates and a
        pair to judge, like any pair; returns the pair id."""
        from editor_rl.preferences.store_schema import CandidateRow, PairRow, candidate_id

        ids = []
        for side in request["sides"]:
            cid = candidate_id(song_hash=request["song_hash"], target_seconds=request["target_seconds"], edl=side["edl"], model=request["model"], source="edit")
            self.store.add_candidate(CandidateRow(cid, request["song_id"], request["target_seconds"], side["edl"], side["audio_path"], "edit", 0.0, None, None, request["model"]))
            ids.append(cid)
        pair = PairRow(f"{ids[0]}~{ids[1]}", request["song_id"], ids[0], ids[1], request["target_seconds"], None, 1.0)
        self.store.add_pair(pair)
        return pair.pair_id

    def rate(self, body: dict) -> dict:
        """Store a rating; KeyError for an unknown candidate."""
        return self.store.rate(**body)._asdict()

    def stats(self) -> dict:
        return self.store.stats()

    def rater_for_token(self, token: str) -> str | None:
        """The registered rater whose token this is, or None."""
        return self.store.rater_for_token(token) if token else None

    def export(self, fmt: str) -> bytes:
        """The judgements as a JSONL or Parquet file's bytes."""
        import tempfile

        with tempfile.TemporaryDirectory() as d:
            return self.store.export(Path(d) / f"export.{fmt}", format=fmt).read_bytes()

    def audio_path(self, candidate_id: str) -> str | None:
        c = self.store.candidate(candidate_id)
        return c.audio_path if c is not None and c.audio_path and Path(c.audio_path).is_file() else None

    def load_manifest(self, path: str) -> tuple[int, int]:
        from editor_rl.rlhf.candidates import load_manifest

        return load_manifest(path, store=self.store)

    def integrity(self) -> str:
        return self.store.integrity_check()


@serve.deployment(ray_actor_options={"num_cpus": 0.1}, max_ongoing_requests=16, max_queued_requests=64)
class Reward:
    """The served version's reward model: scores of edits (mean and ensemble spread)."""

    def __init__(self, settings: ServeSettings) -> None:
        from editor_rl.serving.served import ServedModels

        self.models = ServedModels(settings.data_dir, checkpoint=settings.checkpoint, reward=settings.reward)
        self.models.for_rater(None)  # load the served version now, not at the first request
        settle_heap()

    def available(self, rater: str | None = None) -> bool:
        return self.models.for_rater(rater).scorer is not None

    def score(self, sequences: list, rater: str | None = None) -> tuple[list[float], list[float]]:
        scorer = self.models.for_rater(rater).scorer
        if scorer is None:
            raise EditorRLError("no reward model is loaded (serve --reward CKPT)")
        r, s = scorer.score(sequences)
        return [float(x) for x in r], [float(x) for x in s]
