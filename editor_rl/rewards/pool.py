"""RewardPool: the learned reward served by M Ray actors — the one place reward actors live.

Each actor (:class:`RewardWorker`, an async Ray actor) holds the model on its GPU (``num_gpus``,
fractions allowed) or on CPU with torch threads = its CPUs, and batches concurrent requests: calls
that arrive within ``max_wait_ms`` are scored together, up to ``max_batch`` sequences per forward
pass. The client (:class:`RewardPool`) splits a request into chunks, spreads them over the actors,
and re-sends a chunk to another actor when its actor dies or does not answer within
``timeout_s`` (up to ``max_retries`` times); every sequence gets exactly one answer. Dead actors
are restarted by Ray (``max_restarts``). :meth:`RewardPool.swap` installs a new checkpoint in every
actor without restarting them; each answer carries the model version that produced it, so an actor
that came back from a restart with the old weights is updated and the chunk re-scored.

Usage::

    pool = RewardPool("reward.pt", config=PoolConfig(num_actors=2))
    rewards, stds = pool.score(sequences)          # list of EditSequence -> two arrays
    pool.swap("reward_v2.pt")
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import math
import os
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import ray

from editor_rl.config import PoolConfig
from editor_rl.errors import EditorRLError
from editor_rl.rewards.model import load_scorer
from editor_rl.rewards.sequence import EditSequence


class RewardWorker:
    """One reward actor (async): batches concurrent ``score`` calls into forward passes."""

    def __init__(self, checkpoint: bytes, version: int, *, num_threads: int, device: str, precision: str, max_batch: int, max_wait_ms: float) -> None:
        import torch

        torch.set_num_threads(max(1, num_threads))
        self.device, self.precision = device, precision
        self.scorer = load_scorer(checkpoint, device=device, precision=precision)
        self.version = version
        self.max_batch, self.max_wait = max_batch, max_wait_ms / 1000.0
        self.pending: list[tuple[list[EditSequence], asyncio.Future]] = []
        self.wakeup: asyncio.Event | None = None
        self.loop_task: asyncio.Task | None = None
        self.executor = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        self.batches = 0
        self.sequences = 0

    async def _batch_loop(self) -> None:
        while True:
            await self.wakeup.wait()
            await asyncio.sleep(self.max_wait)  # let concurrent requests join the batch
            self.wakeup.clear()
            while self.pending:
                take, n = [], 0
                while self.pending and (not take or n + len(self.pending[0][0]) <= self.max_batch):
                    item = self.pending.pop(0)
                    take.append(item)
                    n += len(item[0])
                seqs = [s for item, _ in take for s in item]
                version = self.version
                try:
                    rewards, stds = await asyncio.get_running_loop().run_in_executor(self.executor, self.scorer.score, seqs)
                except Exception as exc:  # answer every waiting caller, never hang them
                    for _, fut in take:
                        fut.set_exception(exc)
                    continue
                self.batches += 1
                self.sequences += len(seqs)
                k = 0
                for item, fut in take:
                    fut.set_result((version, rewards[k : k + len(item)], stds[k : k + len(item)]))
                    k += len(item)

    async def score(self, sequences: list[EditSequence]) -> tuple[int, np.ndarray, np.ndarray]:
        """(model version, rewards, stds) for ``sequences``."""
        if self.loop_task is None:
            self.wakeup = asyncio.Event()
            self.loop_task = asyncio.get_running_loop().create_task(self._batch_loop())
        fut = asyncio.get_running_loop().create_future()
        self.pending.append((list(sequences), fut))
        self.wakeup.set()
        return await fut

    async def swap(self, checkpoint: bytes, version: int) -> int:
        """Install a new checkpoint; returns the version now served."""
        if version > self.version:
            self.scorer = await asyncio.get_running_loop().run_in_executor(self.executor, lambda: load_scorer(checkpoint, device=self.device, precision=self.precision))
            self.version = version
        return self.version

    async def stats(self) -> dict:
        """Forward passes and sequences scored so far, the served version, the process, device and node."""
        return {"batches": self.batches, "sequences": self.sequences, "version": self.version, "pid": os.getpid(), "device": self.device,
                "precision": self.scorer.precision, "node": ray.get_runtime_context().get_node_id()}


def actor_gpus(config: PoolConfig, *, cluster_gpus: float | None = None) -> float:
    """GPUs each pool actor asks for: ``config.num_gpus``, or for -1 (auto) the cluster's GPUs shared
    among the actors — ``1/⌈actors/GPUs⌉`` each, at most one, 0 without GPUs — so every actor starts
    (a whole GPU each would leave the actors beyond the GPU count waiting forever).

    ``cluster_gpus`` defaults to the connected Ray cluster's GPU count.
    """
    if config.num_gpus != -1:
        return float(config.num_gpus)
    gpus = ray.cluster_resources().get("GPU", 0.0) if cluster_gpus is None else cluster_gpus
    if gpus < 1:
        return 0.0
    return 1.0 / math.ceil(config.num_actors / math.floor(gpus))


def pool_bundle(config: PoolConfig) -> dict[str, float]:
    """The resources a whole pool needs, as one placement-group bundle (e.g. a Tune trial's)."""
    bundle = {"CPU": config.num_cpus * config.num_actors}
    if actor_gpus(config) > 0:
        bundle["GPU"] = actor_gpus(config) * config.num_actors
    return bundle


class _Job:
    """One :meth:`RewardPool.score` call's state: its chunks, the answers so far, what is in flight
    (ref → chunk id, actor index, answer deadline, attempt) and what waits to be re-sent
    (send at, chunk id, last actor, attempt)."""

    def __init__(self, seqs: list, chunks: dict[int, list[int]]) -> None:
        self.seqs, self.chunks = seqs, chunks
        self.rewards, self.stds = np.zeros(len(seqs)), np.zeros(len(seqs))
        self.inflight: dict = {}
        self.waiting: list[tuple[float, int, int, int]] = []
        self.done: set[int] = set()


class RewardPool:
    """Client of M :class:`RewardWorker` actors (see the module docstring).

    Parameters
    ----------
    checkpoint : str or Path
        A reward checkpoint (``editor_rl.rewards.model.save_checkpoint``).
    config : PoolConfig
    scheduling_strategy : optional
        Where the actors go (e.g. a ``PlacementGroupSchedulingStrategy`` naming the bundle a Tune
        trial reserved for its pool); Ray's default placement when None.
    """

    def __init__(self, checkpoint: str | Path, *, config: PoolConfig = PoolConfig(), scheduling_strategy=None) -> None:
        self.config = config
        self.version = 1
        self._ckpt_ref = ray.put(self._read(checkpoint))
        # Ray re-runs a restarted actor's constructor with its original arguments, so the first
        # checkpoint must stay in the object store for the pool's lifetime (the version check then
        # brings the restarted actor up to date).
        self._init_ref = self._ckpt_ref
        gpus = actor_gpus(config)
        device = "cuda" if gpus > 0 else "cpu"
        actor = ray.remote(RewardWorker).options(num_cpus=config.num_cpus, num_gpus=gpus, max_restarts=config.max_restarts, max_task_retries=0, max_concurrency=1000,
                                                 scheduling_strategy=scheduling_strategy)
        self.actors = [
            actor.remote(self._init_ref, self.version, num_threads=max(1, int(config.num_cpus)), device=device, precision=config.precision,
                         max_batch=config.gpu_max_batch if device == "cuda" else config.max_batch, max_wait_ms=config.max_wait_ms)
            for _ in range(config.num_actors)
        ]
        self.chunk = config.gpu_max_batch if device == "cuda" else config.max_batch  # sequences per request to an actor
        self._next = itertools.count()
        self.submitted = 0  # chunks sent to actors (re-sends included)
        self.resent = 0  # chunks re-sent after an actor died, was restarting, timed out or had old weights

    @staticmethod
    def _read(checkpoint: str | Path) -> bytes:
        p = Path(checkpoint)
        if not p.is_file():
            raise EditorRLError(f"reward checkpoint {str(p)!r} does not exist")
        return p.read_bytes()

    def _submit(self, chunk: list[EditSequence], avoid: int | None = None):
        self.submitted += 1
        k = next(self._next) % len(self.actors)
        if avoid is not None and len(self.actors) > 1 and k == avoid:
            k = (k + 1) % len(self.actors)
        return self.actors[k].score.remote(chunk), k

    def score(self, sequences: Sequence[EditSequence]) -> tuple[np.ndarray, np.ndarray]:
        """Rewards and uncertainties of ``sequences``, each answered exactly once.

        A chunk whose actor died or did not answer within ``timeout_s`` is re-sent (after a short
        back-off) to another actor, up to ``max_retries`` times; an actor that is restarting
        does not use up a retry, but no chunk waits longer than ``(max_retries + 1) · timeout_s``.

        Raises
        ------
        EditorRLError
            A chunk could not be scored within its retries or its deadline.
        """
        cfg = self.config
        seqs = list(sequences)
        by_len = np.argsort([len(x.tokens) for x in seqs], kind="stable")  # similar lengths share a chunk: less padding
        job = _Job(seqs, {i: by_len[i : i + self.chunk].tolist() for i in range(0, len(seqs), self.chunk)})
        give_up = {cid: time.monotonic() + (cfg.max_retries + 1) * cfg.timeout_s for cid in job.chunks}
        for cid, idx in job.chunks.items():
            ref, k = self._submit([seqs[i] for i in idx])
            job.inflight[ref] = (cid, k, time.monotonic() + cfg.timeout_s, 0)
        while len(job.done) < len(job.chunks):
            ready = ray.wait(list(job.inflight), num_returns=1, timeout=0.1)[0] if job.inflight else []
            if not job.inflight:
                time.sleep(0.05)
            now = time.monotonic()
            for ref in ready:
                self._collect(job, ref, now)
            self._expire(job, now)
            self._resend(job, now, give_up)
        return job.rewards, job.stds

    def _collect(self, job: "_Job", ref, now: float) -> None:
        """Take one answer: store it, or queue its chunk again (actor restarting, failed, stale weights)."""
        cid, k, _, attempt = job.inflight.pop(ref)
        if cid in job.done:
            return  # a late duplicate of a chunk already answered
        try:
            version, r, s = ray.get(ref)
        except ray.exceptions.ActorUnavailableError:
            job.waiting.append((now + 0.5, cid, k, attempt))  # restarting: try again, no retry used
            return
        except (ray.exceptions.RayActorError, ray.exceptions.RayTaskError) as exc:
            if attempt + 1 > self.config.max_retries:
                raise EditorRLError(f"reward pool: a chunk of {len(job.chunks[cid])} sequences failed {attempt + 1} times ({exc})") from None
            job.waiting.append((now + 0.1 * 2**attempt, cid, k, attempt + 1))
            return
        if version < self.version:  # a restarted actor with old weights: update it, score again
            self.actors[k].swap.remote(self._ckpt_ref, self.version)
            job.waiting.append((now, cid, k, attempt))
            return
        job.rewards[job.chunks[cid]], job.stds[job.chunks[cid]] = r, s
        job.done.add(cid)

    def _expire(self, job: "_Job", now: float) -> None:
        """Stop waiting for chunks past their answer deadline (a late answer is ignored); queue them again."""
        for ref, (cid, k, deadline, attempt) in list(job.inflight.items()):
            if deadline < now and cid not in job.done:
                del job.inflight[ref]
                if attempt + 1 > self.config.max_retries:
                    raise EditorRLError(f"reward pool: a chunk of {len(job.chunks[cid])} sequences got no answer in {self.config.timeout_s} s, {attempt + 1} times")
                job.waiting.append((now, cid, k, attempt + 1))

    def _resend(self, job: "_Job", now: float, give_up: dict[int, float]) -> None:
        """Send the queued chunks that are due to another actor, within each chunk's overall deadline."""
        for item in sorted(job.waiting):
            send_at, cid, k, attempt = item
            if send_at > now:
                continue
            job.waiting.remove(item)
            if now > give_up[cid]:
                raise EditorRLError(f"reward pool: a chunk of {len(job.chunks[cid])} sequences was not scored within "
                                    f"{(self.config.max_retries + 1) * self.config.timeout_s:.0f} s")
            self.resent += 1
            ref, k2 = self._submit([job.seqs[i] for i in job.chunks[cid]], avoid=k)
            job.inflight[ref] = (cid, k2, now + self.config.timeout_s, attempt)

    def swap(self, checkpoint: str | Path) -> int:
        """Install a new checkpoint in every actor without restarting them; returns the new version."""
        self._ckpt_ref = ray.put(self._read(checkpoint))
        self.version += 1
        refs = [a.swap.remote(self._ckpt_ref, self.version) for a in self.actors]
        for ref in refs:
            try:
                ray.get(ref, timeout=self.config.timeout_s)
            except (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError, ray.exceptions.GetTimeoutError):
                pass  # a dead actor is updated when it next answers with the old version
        return self.version

    def stats(self) -> list[dict]:
        """Each live actor's counters."""
        out = []
        for a in self.actors:
            try:
                out.append(ray.get(a.stats.remote(), timeout=self.config.timeout_s))
            except (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError, ray.exceptions.GetTimeoutError):
                out.append({})
        return out

    def shutdown(self) -> None:
        """Kill the actors."""
        for a in self.actors:
            ray.kill(a, no_restart=True)
