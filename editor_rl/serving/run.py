"""``editor-rl serve``: start the Serve application (the same one ``serve run cluster/serve-local.yaml`` starts).

With ``--songs`` it first analyses the songs, makes candidates from the policy (and baselines),
scores them with the reward model when one is given, and loads them into the preference store, so a
rater can start judging at once. It runs until SIGTERM or SIGINT, then drains: Serve finishes the
requests in flight and stops, Ray shuts down, and the command exits 0.
"""

from __future__ import annotations

import signal
import threading
from dataclasses import replace
from pathlib import Path
from typing import Sequence

from editor_rl.rlhf.datadir import record_service
from editor_rl.serving.deployments import ServeSettings

APP_NAME = "editor-rl"


def prepare_candidates(settings: ServeSettings, *, per_song: int, temperatures: Sequence[float], log=print) -> Path:
    """Analyse ``settings.songs_dir`` and write candidates under ``<data>/candidates`` (returns the manifest)."""
    from editor_rl.rlhf.candidates import make_candidates
    from editor_rl.corpus.store import FeatureStore, analyze_corpus, list_songs, load_corpus
    from editor_rl.rewards.model import load_scorer
    from editor_rl.policy.load import load_policy, policy_identity

    cfg = settings.config
    store = FeatureStore(Path(settings.data_dir) / "features")
    songs = list_songs(settings.songs_dir)
    report = analyze_corpus(songs, store=store, config=cfg, progress=False)
    analyses = load_corpus([p for p in songs if p.stem not in report.failed], store=store, config=cfg)
    log(f"serve: making {per_song} policy candidates per song for {len(analyses)} songs")
    m = make_candidates(analyses, out_dir=Path(settings.data_dir) / "candidates", per_song=per_song, temperatures=temperatures,
                        target_ratio=cfg.cycle.target_ratios[0], section_plans=cfg.cycle.section_plans,  # round 1 of the cycle's rotation
                        module=load_policy(settings.checkpoint), model=policy_identity(settings.checkpoint),
                        scorer=load_scorer(settings.reward) if settings.reward else None, config=cfg)
    log(f"serve: {len(m.candidates)} candidates, {len(m.pairs)} pairs → {m.path}")
    return m.path


def register_start_model(settings: ServeSettings, *, log=print) -> None:
    """With a reward model and an empty registry, the starting checkpoint becomes version v001 (served)."""
    from editor_rl.rlhf.registry import ModelRegistry

    registry = ModelRegistry(settings.data_dir)
    if registry.versions():
        log(f"serve: serving model version {registry.current_name()} (the registry in {registry.root}; --checkpoint only starts a new one)")
    elif settings.reward:
        v = registry.add(policy=settings.checkpoint, reward=settings.reward, meta={"parent": None, "origin": "editor-rl serve --checkpoint", "used_through": 0})
        registry.promote(v.name)
        log(f"serve: the starting policy and reward model are model version {v.name}")


def start(settings: ServeSettings, *, host: str = "127.0.0.1", port: int = 8000, per_song: int = 3,
          temperatures: Sequence[float] = (0.1, 0.3, 0.5, 0.7, 0.9), log=print):
    """Start (or redeploy) the app on the running Ray; returns the ingress handle."""
    from ray import serve

    from editor_rl.config.raysession import ensure_ray
    from editor_rl.serving.app import build_app
    from editor_rl.serving.security import resolve_token

    resolve_token(settings.data_dir, announce=log)  # fail closed before anything starts: no usable token, no service
    register_start_model(settings, log=log)
    record_service(settings.data_dir, store=settings.store, songs=str(Path(settings.songs_dir).resolve()) if settings.songs_dir else "")
    ensure_ray(num_cpus=settings.config.run.num_cpus)
    settings = replace(settings, data_dir=str(Path(settings.data_dir).resolve()), songs_dir=str(Path(settings.songs_dir).resolve()) if settings.songs_dir else "")
    if settings.songs_dir and not settings.candidates_dir:
        manifest = prepare_candidates(settings, per_song=per_song, temperatures=temperatures, log=log)
        settings = replace(settings, candidates_dir=str(manifest.parent))
    serve.start(http_options={"host": host, "port": port})
    handle = serve.run(build_app(settings), name=APP_NAME, route_prefix="/")
    stats = serve.get_deployment_handle("Feedback", app_name=APP_NAME).stats.remote().result()
    log(f"serve: the preference store holds {stats['candidates']} candidates and {stats['pairs']} pairs")
    log(f"serve: listening on http://{host}:{port}/ (web UI at /, API docs at /docs)")
    return handle


def serve_forever(settings: ServeSettings, *, log=print, **kwargs) -> None:
    """:func:`start`, then serve until SIGTERM or SIGINT; then drain and stop Serve and Ray."""
    import ray
    from ray import serve

    from editor_rl.config.raysession import ensure_ray
    from editor_rl.serving.security import resolve_token

    stop = threading.Event()
    resolve_token(settings.data_dir, announce=log)  # fail closed before anything starts
    ensure_ray(num_cpus=settings.config.run.num_cpus)
    for sig in (signal.SIGTERM, signal.SIGINT):  # after ray.init, which installs its own fatal-signal handler
        signal.signal(sig, lambda *_: stop.set())
    start(settings, log=log, **kwargs)
    stop.wait()
    log("serve: stopping: draining requests in flight, then Serve and Ray")
    serve.shutdown()
    ray.shutdown()
    log("serve: stopped")
