"""The main job on the embedded default configuration: ``editor-rl quickstart``.

Synthesises a small corpus, analyses it into the feature store (Ray tasks), renders the search
baseline's edit of the first song at half its length, and prints where everything is. Work goes under ``runs/quickstart/`` (``run.work_dir``).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace
from pathlib import Path

from editor_rl.audio.io import decode_audio, write_audio
from editor_rl.audio.synth import write_corpus
from editor_rl.config import Config
from editor_rl.corpus import FeatureStore, analyze_corpus, list_songs
from editor_rl.edit.baselines import search_edit
from editor_rl.edit.render import render_plan


def run_quickstart(config: Config, *, out=None) -> dict:
    """Run the pipeline; returns a dict of the paths it wrote.

    Parameters
    ----------
    config : Config
        ``run.work_dir``, ``run.n_songs`` and ``run.seed`` size it.
    out : file or None
        Where progress lines go (None: the current ``sys.stdout``).
    """
    out = out or sys.stdout
    t0 = time.time()
    work = Path(config.run.work_dir)
    songs_dir, store_dir, edits_dir = work / "songs", work / "features", work / "edits"
    config = replace(config, corpus=replace(config.corpus, store_dir=str(store_dir)))

    def say(msg: str) -> None:
        print(f"[quickstart {time.time() - t0:6.1f}s] {msg}", file=out, flush=True)

    existing = list_songs(songs_dir) if songs_dir.is_dir() else []
    if len(existing) < config.run.n_songs:
        say(f"synthesising {config.run.n_songs} songs into {songs_dir}")
        write_corpus(songs_dir, n=config.run.n_songs, seed=config.run.seed, config=config.synth)
    songs = list_songs(songs_dir)[: config.run.n_songs]
    say(f"analysing {len(songs)} songs into {store_dir} (Ray tasks)")
    store = FeatureStore(store_dir)
    report = analyze_corpus(songs, store=store, config=config)
    say(f"analysed {len(report.analysed)}, already stored {len(report.skipped)}, failed {len(report.failed)}")
    first = songs[0]
    analysis = store.load_song(first, config=config)
    target = round(0.5 * analysis.duration_s, 1)
    plan = search_edit(analysis, target_seconds=target, config=config)
    edl_path = plan.save(edits_dir / f"{first.stem}.search.json")
    audio = decode_audio(first)
    wav_path = write_audio(edits_dir / f"{first.stem}.search.wav", render_plan(audio, plan, config=config.render), sample_rate=audio.sample_rate)
    say(f"search-baseline edit of {first.name}: {analysis.duration_s:.1f} s → {plan.duration_s:.1f} s (target {target} s), {plan.n_seams} seams")
    result = {"songs": str(songs_dir), "features": str(store_dir), "edl": str(edl_path), "edit": str(wav_path), "analysis": report.to_dict()}
    (work / "quickstart.json").write_text(json.dumps(result, indent=1))
    say("done. Outputs:")
    for key in ("songs", "features", "edl", "edit"):
        print(f"  {key:9s} {result[key]}", file=out)
    return result
