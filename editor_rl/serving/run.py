"""``editor-rl serve``: start the Serve application (the same one ``serve run serve/local.yaml`` starts).

With ``--songs`` it first analyses the songs, makes candidates from the policy (and baselines),
scores them with the reward model when one is given, and loads them into the preference store, so a
rater can start judging at once.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Sequence

from editor_rl.serving.deployments import ServeSettings

APP_NAME = "editor-rl"


def prepare_candidates(settings: ServeSettings, *, per_song: int, temperatures: Sequence[float], log=print) -> Path:
    """Analyse ``settings.songs_dir`` and write candidates under ``<data>/candidates`` (returns the manifest)."""
    from editor_rl.candidates import make_candidates
    from editor_rl.corpus import FeatureStore, analyze_corpus, list_songs, load_corpus
    from editor_rl.rewards.model import load_scorer
    from editor_rl.rl.policy import load_policy

    cfg = settings.config
    store = FeatureStore(Path(settings.data_dir) / "features")
    songs = list_songs(settings.songs_dir)
    report = analyze_corpus(songs, store=store, config=cfg, progress=False)
    analyses = load_corpus([p for p in songs if p.stem not in report.failed], store=store, config=cfg)
    log(f"serve: making {per_song} policy candidates per song for {len(analyses)} songs")
    m = make_candidates(analyses, out_dir=Path(settings.data_dir) / "candidates", per_song=per_song, temperatures=temperatures,
                        module=load_policy(settings.checkpoint), scorer=load_scorer(settings.reward) if settings.reward else None, config=cfg)
    log(f"serve: {len(m.candidates)} candidates, {len(m.pairs)} pairs → {m.path}")
    return m.path


def start(settings: ServeSettings, *, host: str = "127.0.0.1", port: int = 8000, per_song: int = 3,
          temperatures: Sequence[float] = (0.1, 0.3, 0.5, 0.7, 0.9), log=print):
    """Start (or redeploy) the app on the running Ray; returns the ingress handle."""
    from ray import serve

    from editor_rl.raysession import ensure_ray
    from editor_rl.serving.app import build_app

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


def serve_forever(settings: ServeSettings, **kwargs) -> None:
    """:func:`start`, then wait until interrupted."""
    start(settings, **kwargs)
    while True:
        time.sleep(3600)
