"""Serve latency: ``POST /api/edit`` (stored 3-minute song, fresh upload) and ``GET
/api/feedback/samples``, each beside a no-op Serve endpoint measured in the same run.

Run:  .venv/bin/python bench/bench_serve.py [--edits 30 --uploads 8 --samples 100 --noop 200 --load-s 60] [--reward CKPT] [--policy shipped|bc]

What to expect: a local Ray (2 CPUs) running the editor-rl app on 127.0.0.1 and, in the same Serve
instance, a one-line no-op deployment (GET and POST with a JSON body). The policy is the
package's default model (``--policy shipped``, what ``editor-rl serve`` serves without a checkpoint)
or one behaviour-cloned from the search on the bench's songs in 4 epochs (``--policy bc``, the
bench's policy before session 13: it leaves the planner's hint far more often, so its rollouts
re-plan at most steps and cost more). The stored
song is 3 minutes long and already analysed (the feature store is warm); each upload is new bytes
(one sample changed), so it is decoded, validated, beat-tracked and analysed before the policy runs.
An edit at temperature 0 is what a person gets by default: with ``--reward`` (a reward model, e.g.
the quickstart's final one) the best of N by that model (:mod:`editor_rl.editors.best_of`: the policy's
greedy edit and ``pick.samples`` samples, the search, ``pick.section_plans`` section searches, all
scored in one batch); an edit at temperature 1 is one policy sample, measured beside it.
Requests are sent one at a time; the table gives p50 and p99 in milliseconds. A best edit
(temperature 0) is measured with a new target each request (nothing cached) and as the same request
again (the replica's cache); the first ``GET`` of an edit's audio renders it, the second reads it
from disk (the transfer alone, through Serve's proxy); last, a new best edit and at once its audio,
back to back (from the click to the last byte). Then a load test:
8 clients for ``--load-s`` seconds, each a mix of new-target best edits, repeats and audio fetches:
p50 / p99, errors, and the Serve processes' memory (resident, and unique to them) before, during and after.
"""

from __future__ import annotations

import argparse
import io
import json
import socket
import tempfile
import time
from pathlib import Path

import numpy as np
import ray
import requests
import soundfile as sf
from ray import serve


def pct(xs: list[float]) -> tuple[float, float]:
    a = np.array(xs) * 1000
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


@serve.deployment(ray_actor_options={"num_cpus": 0.05})
class Noop:
    async def __call__(self, request) -> dict:
        if request.method == "POST":
            await request.body()
        return {"ok": True}


def serve_memory_mb() -> tuple[float, float]:
    """Memory of this machine's Serve processes (the replicas, controller and proxy), MB: resident
    (RSS) and unique to them (USS). RSS also counts the pages of Ray's shared object store a process
    has touched (audio passes through it in 4 MiB pieces), which grows until the store's pages have
    all been touched once; USS is what a leak would grow."""
    import psutil

    rss = uss = 0
    for p in psutil.process_iter(["cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if "ray::ServeReplica" in cmd or "ray::ServeController" in cmd or "ray::ProxyActor" in cmd:
            try:
                m = p.memory_full_info()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            rss, uss = rss + m.rss, uss + m.uss
    return rss / 2**20, uss / 2**20


def load_test(url: str, auth: dict, body: dict, duration_s: float, *, seconds: float, clients: int = 8) -> dict:
    """``clients`` threads for ``seconds``: each sends a best edit at a new target, the same request
    again and a fetch of the new edit's audio, in turn. Latencies of every request; errors counted."""
    from concurrent.futures import ThreadPoolExecutor

    before = serve_memory_mb()
    deadline = time.perf_counter() + seconds

    def client(c: int) -> tuple[list[float], int]:
        http, lat, errors, k = requests.Session(), [], 0, 0

        def timed_call(method, path: str, **kw):
            t0 = time.perf_counter()
            r = getattr(http, method)(url + path, timeout=120, **kw)
            lat.append(time.perf_counter() - t0)
            return r

        while time.perf_counter() < deadline:
            k += 1
            target = round((0.25 + 0.5 * ((7919 * (c * 1000 + k)) % 1000) / 1000) * duration_s, 2)
            new = timed_call("post", "/api/edit", json=body | {"target_seconds": target}, headers=auth)
            again = timed_call("post", "/api/edit", json=body, headers=auth)
            audio = timed_call("get", new.json()["audio_url"]) if new.status_code == 200 else new
            errors += sum(r.status_code != 200 for r in (new, again, audio))
        return lat, errors

    with ThreadPoolExecutor(clients + 1) as pool:
        futures = [pool.submit(client, c) for c in range(clients)]
        during = []  # the Serve processes' memory every tenth of the test: flat, or still growing?
        while not all(f.done() for f in futures):
            time.sleep(seconds / 10)
            during.append(serve_memory_mb())
        results = [f.result() for f in futures]
    after = serve_memory_mb()
    lat = [x for r in results for x in r[0]]
    p50, p99 = pct(lat)
    return {"clients": clients, "seconds": seconds, "requests": len(lat), "errors": sum(r[1] for r in results), "p50_ms": p50, "p99_ms": p99,
            "rss_before_mb": before[0], "rss_after_mb": after[0], "rss_during_mb": [round(m[0]) for m in during],
            "uss_before_mb": before[1], "uss_after_mb": after[1], "uss_during_mb": [round(m[1]) for m in during]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--edits", type=int, default=30)
    ap.add_argument("--uploads", type=int, default=8)
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--noop", type=int, default=200)
    ap.add_argument("--load-s", type=float, default=60.0, help="seconds of the 8-client load test")
    ap.add_argument("--reward", default="", help="a reward model: /api/edit at temperature 0 is then best of N, as served (e.g. the quickstart's)")
    ap.add_argument("--policy", default="shipped", choices=["shipped", "bc"],
                    help="the policy served: the package's default model (what `editor-rl serve` serves without a checkpoint) or one cloned from the search on the bench's songs")
    ap.add_argument("--out", default="bench/results/serve.json")
    args = ap.parse_args()

    from editor_rl.audio.synth import write_corpus
    from editor_rl.config import Config, SynthConfig
    from editor_rl.corpus.store import FeatureStore, list_songs, load_corpus
    from editor_rl.policy.shipped import shipped_model
    from editor_rl.rl.bc import train_bc
    from editor_rl.serving.deployments import ServeSettings
    from editor_rl.serving.run import start

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    work = Path(tempfile.mkdtemp(prefix="bench_serve_"))
    cfg = Config()
    songs = work / "songs"
    write_corpus(songs, n=2, seed=77, config=SynthConfig(min_seconds=180.0, max_seconds=180.0))
    analyses = load_corpus(list_songs(songs), store=FeatureStore(work / "data" / "features"), config=cfg)
    if args.policy == "bc":
        checkpoint = train_bc(analyses, config=cfg, out_dir=work / "policy", edits_per_song=4, epochs=4, log=lambda m: None)["checkpoint"]
    else:
        checkpoint = str(shipped_model().policy)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = ServeSettings(checkpoint=checkpoint, data_dir=str(work / "data"), songs_dir=str(songs), config=cfg, max_body_bytes=64 * 1024 * 1024,
                             reward=args.reward)
    start(settings, port=port, per_song=4, temperatures=(0.3, 0.7), log=print)
    serve.run(Noop.bind(), name="noop", route_prefix="/noop")
    url = f"http://127.0.0.1:{port}"
    token = (work / "data" / "token").read_text().strip()
    auth = {"Authorization": f"Bearer {token}"}
    http = requests.Session()
    a = next(iter(analyses.values()))
    song_bytes = Path(a.path).read_bytes()
    rows: dict[str, tuple[float, float, int]] = {}

    def timed(n: int, fn) -> list[float]:
        fn(-1) if fn.__code__.co_argcount else fn()  # warm-up
        out = []
        for i in range(n):
            t0 = time.perf_counter()
            r = fn(i) if fn.__code__.co_argcount else fn()
            out.append(time.perf_counter() - t0)
            assert r.status_code == 200, r.text[:300]
        return out

    body = {"song_id": a.song_id, "target_seconds": round(0.6 * a.duration_s, 1)}
    rows["no-op GET"] = (*pct(timed(args.noop, lambda: http.get(url + "/noop"))), args.noop)
    rows["no-op POST (JSON body)"] = (*pct(timed(args.noop, lambda: http.post(url + "/noop", json=body))), args.noop)
    sampled = body | {"temperature": 1.0}
    rows["POST /api/edit (stored 3-min song, one policy sample, T=1)"] = (*pct(timed(args.edits, lambda: http.post(url + "/api/edit", json=sampled, headers=auth))), args.edits)
    best = "best of N by the reward model" if args.reward else "the policy's greedy edit: no reward model"
    ratio = lambda i: 0.25 + 0.5 * ((0.6180339887 * (i + 2)) % 1.0)  # noqa: E731 - a new target each call, within 25-75 % of the song
    new_target = lambda i: http.post(url + "/api/edit", json=body | {"target_seconds": round(ratio(i) * a.duration_s, 2)}, headers=auth)  # noqa: E731
    rows[f"POST /api/edit (stored 3-min song, T=0: {best}; a new target each request)"] = (*pct(timed(args.edits, new_target)), args.edits)
    rows["POST /api/edit (the same request again: cached)"] = (*pct(timed(args.edits, lambda: http.post(url + "/api/edit", json=body, headers=auth))), args.edits)
    fresh = [new_target(1000 + i).json()["audio_url"] for i in range(args.edits + 1)]
    rows["GET /api/audio (first fetch of an edit: rendered now)"] = (*pct(timed(args.edits, lambda i: http.get(url + fresh[i + 1]))), args.edits)
    rows["GET /api/audio (the same again: from disk)"] = (*pct(timed(args.edits, lambda i: http.get(url + fresh[i + 1]))), args.edits)
    rows["a best edit at a new target, then its audio at once (what a person waits for)"] = (
        *pct(timed(args.edits, lambda i: http.get(url + new_target(2000 + i).json()["audio_url"]))), args.edits)
    audio, sr = sf.read(io.BytesIO(song_bytes), dtype="int16")

    def upload(i: int = -1):
        x = audio.copy()
        x[1000, 0] = np.int16(i + 2)  # new bytes: a fresh upload, analysed from scratch
        buf = io.BytesIO()
        sf.write(buf, x, sr, format="WAV", subtype="PCM_16")
        return http.post(url + "/api/edit", files={"audio": ("song.wav", buf.getvalue(), "audio/wav")}, data={"target_seconds": str(body["target_seconds"])}, headers=auth)

    rows[f"POST /api/edit (fresh 3-min upload, T=0: {best})"] = (*pct(timed(args.uploads, upload)), args.uploads)
    rows["GET /api/feedback/samples"] = (*pct(timed(args.samples, lambda: http.get(url + "/api/feedback/samples", params={"rater_id": "bench", "n": 1}))), args.samples)
    load = load_test(url, auth, body, a.duration_s, seconds=args.load_s)
    rows[f"load: 8 clients × {args.load_s:g} s, edits (new targets, repeats) and audio fetches"] = (load["p50_ms"], load["p99_ms"], load["requests"])
    print("\n| request | p50 ms | p99 ms | n |\n|---|---|---|---|")
    for k, (p50, p99, n) in rows.items():
        print(f"| {k} | {p50:.1f} | {p99:.1f} | {n} |")
    print(f"\nload test: {load['errors']} errors of {load['requests']} requests; Serve processes' memory, resident {load['rss_before_mb']:.0f} → {load['rss_after_mb']:.0f} MB"
          f" (every tenth of the test: {', '.join(map(str, load['rss_during_mb']))}), unique {load['uss_before_mb']:.0f} → {load['uss_after_mb']:.0f} MB"
          f" ({', '.join(map(str, load['uss_during_mb']))})")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({k: {"p50_ms": v[0], "p99_ms": v[1], "n": v[2]} for k, v in rows.items()} | {"load": load}, indent=1))
    serve.shutdown()
    ray.shutdown()


if __name__ == "__main__":
    main()
