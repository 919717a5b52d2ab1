"""Song ids, content hashes, the Parquet feature store, and parallel analysis as Ray tasks.

The store is a folder with one Parquet file per analysed song, named
``<content-hash>-<analysis-version>.parquet``: a table of one row per beat (``beat_s``,
``bar_pos``, ``phrase_pos``, ``features`` as a fixed-size list of 125 float32) whose schema
metadata holds the song-level fields. Writing goes to a temp file that is renamed into place,
so a reader never sees half a file and a crashed writer leaves nothing behind.

:func:`analyze_corpus` is the one place here that uses Ray: it fans the songs out as tasks, shows
a progress bar, skips songs already stored, and reports a corrupt song without failing the batch.
"""

from __future__ import annotations

import dataclasses
import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from editor_rl.audio.analysis import SongAnalysis, analysis_version, analyze_file, file_hash
from editor_rl.audio.features import FEATURE_DIM
from editor_rl.config import Config
from editor_rl.errors import EditorRLError, StoreError

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")
_META_KEY = b"editor_rl.song"


def song_id(path: str | Path) -> str:
    """A song's id: its file stem (``songs/foo.wav`` → ``foo``)."""
    return Path(path).stem


def list_songs(folder: str | Path) -> list[Path]:
    """Audio files directly inside ``folder``, sorted by name.

    Raises
    ------
    EditorRLError
        The folder does not exist, or two files share a stem (ids must be unique).
    """
    d = Path(folder)
    if not d.is_dir():
        raise EditorRLError(f"song folder {str(d)!r} does not exist")
    songs = sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS and not p.name.startswith("."))
    seen: dict[str, Path] = {}
    for p in songs:
        if p.stem in seen:
            raise EditorRLError(f"song id {p.stem!r} is ambiguous: {seen[p.stem].name} and {p.name}")
        seen[p.stem] = p
    return songs


class FeatureStore:
    """Parquet feature store keyed by content hash and analysis version.

    Parameters
    ----------
    root : str or Path
        The store's folder (created on first write).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path_for(self, content_hash: str, version: str) -> Path:
        """File that holds (or would hold) one analysis."""
        return self.root / f"{content_hash}-{version}.parquet"

    def has(self, content_hash: str, version: str) -> bool:
        """Whether that analysis is stored."""
        return self.path_for(content_hash, version).is_file()

    def put(self, analysis: SongAnalysis) -> Path:
        """Store an analysis atomically; returns its file."""
        self.root.mkdir(parents=True, exist_ok=True)
        meta = {k: getattr(analysis, k) for k in ("song_id", "path", "content_hash", "version", "duration_s", "sample_rate", "channels", "tempo_bpm")}
        feats = np.ascontiguousarray(analysis.features, dtype=np.float32)
        table = pa.table(
            {
                "beat_s": pa.array(analysis.beats_s, type=pa.float64()),
                "bar_pos": pa.array(analysis.bar_pos.astype(np.int8)),
                "phrase_pos": pa.array(analysis.phrase_pos.astype(np.int8)),
                "features": pa.FixedSizeListArray.from_arrays(pa.array(feats.ravel()), FEATURE_DIM),
            }
        ).replace_schema_metadata({_META_KEY: json.dumps(meta).encode()})
        dest = self.path_for(analysis.content_hash, analysis.version)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            pq.write_table(table, tmp)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        return dest

    def get(self, content_hash: str, version: str) -> SongAnalysis:
        """Read one analysis.

        Raises
        ------
        StoreError
            Not stored, or the file cannot be read.
        """
        p = self.path_for(content_hash, version)
        if not p.is_file():
            raise StoreError(f"no analysis for content hash {content_hash!r} (version {version}) in {self.root}")
        try:
            table = pq.read_table(p)
            meta = json.loads(table.schema.metadata[_META_KEY])
        except (OSError, KeyError, ValueError, pa.ArrowException) as exc:
            raise StoreError(f"{p.name}: unreadable feature-store file ({exc})") from None
        feats = table.column("features").combine_chunks().flatten().to_numpy().reshape(-1, FEATURE_DIM)
        return SongAnalysis(
            **meta,
            beats_s=table.column("beat_s").to_numpy(),
            bar_pos=table.column("bar_pos").to_numpy().astype(np.int64),
            phrase_pos=table.column("phrase_pos").to_numpy().astype(np.int64),
            features=np.ascontiguousarray(feats, dtype=np.float32),
        )

    def load_song(self, path: str | Path, *, config: Config, content_hash: str | None = None) -> SongAnalysis:
        """The stored analysis of an audio file, analysing and storing it if missing.

        The analysis is shared by every copy of the same bytes; its ``song_id`` and ``path`` are
        those of the file asked for (a moved or renamed copy keeps its own identity, so its truth
        file and its audio are found where it is now). ``content_hash``: the file's
        :func:`~editor_rl.audio.analysis.file_hash` where the caller has it (not read again).
        """
        h, v = content_hash or file_hash(path), analysis_version(config)
        if self.has(h, v):
            return dataclasses.replace(self.get(h, v), song_id=song_id(path), path=str(path))
        analysis = analyze_file(path, config=config, content_hash=h)
        self.put(analysis)
        return analysis

    def __len__(self) -> int:
        return len(list(self.root.glob("*.parquet"))) if self.root.is_dir() else 0


@dataclass(frozen=True)
class CorpusReport:
    """What :func:`analyze_corpus` did.

    Attributes
    ----------
    analysed : list of str
        Song ids analysed now.
    skipped : list of str
        Song ids already in the store.
    failed : dict of str to str
        Song id → the problem, for songs that could not be analysed.
    """

    analysed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {"analysed": self.analysed, "skipped": self.skipped, "failed": self.failed}


def _analyze_and_store(path: str, store_root: str, config: Config) -> tuple[str, str]:
    """Analyse one song into the store. Returns (status, message); status 'ok' or 'failed'."""
    try:
        FeatureStore(store_root).put(analyze_file(path, config=config))
        return "ok", ""
    except EditorRLError as exc:
        return "failed", str(exc)


def _to_analyse(paths: Sequence[str | Path], *, store: FeatureStore, version: str, report: "CorpusReport") -> list[tuple[str, str]]:
    """(song id, absolute path) of the songs not stored yet; unreadable ones go to ``report.failed``,
    stored ones to ``report.skipped``."""
    todo = []
    for p in paths:
        sid = song_id(p)
        try:
            h = file_hash(p)
        except OSError as exc:
            report.failed[sid] = f"{Path(p).name}: cannot read ({exc.strerror})"
            continue
        if store.has(h, version):
            report.skipped.append(sid)
        else:
            todo.append((sid, str(Path(p).resolve())))
    return todo


def analyze_corpus(paths: Sequence[str | Path], *, store: FeatureStore, config: Config, progress: bool = True) -> CorpusReport:
    """Analyse songs in parallel as Ray tasks into ``store``.

    Uses the Ray instance already running in this process, or starts a local one (see
    :func:`editor_rl.config.raysession.ensure_ray`). Songs whose analysis is stored are skipped;
    a song that cannot be analysed is reported in ``failed`` and the others go on.

    Parameters
    ----------
    paths : sequence of path
        Audio files.
    store : FeatureStore
    config : Config
        ``config.corpus.task_num_cpus`` and ``max_retries`` shape the tasks.
    progress : bool
        Show a progress bar on stderr.

    Returns
    -------
    CorpusReport
    """
    import ray
    from tqdm import tqdm

    from editor_rl.config.raysession import ensure_ray

    report = CorpusReport()
    todo = _to_analyse(paths, store=store, version=analysis_version(config), report=report)
    if not todo:
        return report
    ensure_ray(num_cpus=config.run.num_cpus)
    task = ray.remote(num_cpus=config.corpus.task_num_cpus, max_retries=config.corpus.max_retries)(_analyze_and_store)
    pending = {task.remote(path, str(store.root.resolve()), config): sid for sid, path in todo}
    with tqdm(total=len(pending), desc="analyze", unit="song", disable=not progress) as bar:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            ref = done[0]
            sid = pending.pop(ref)
            try:
                status, message = ray.get(ref)
            except ray.exceptions.RayError as exc:  # the worker died (after retries)
                status, message = "failed", f"{sid}: analysis task failed ({exc.__class__.__name__})"
            if status == "ok":
                report.analysed.append(sid)
            else:
                report.failed[sid] = message
            bar.update(1)
    report.analysed.sort()
    return report


def load_corpus(paths: Iterable[str | Path], *, store: FeatureStore, config: Config, progress: bool = False) -> dict[str, SongAnalysis]:
    """Stored analyses of ``paths`` by song id (analysing any that are missing, in-process).

    Parameters
    ----------
    progress : bool
        Show a progress bar on stderr (analysing songs that are not stored can take minutes, with
        ``beats.tracker: madmom`` about a seventh of their length each).

    Raises
    ------
    InvalidAudioError
        A song that is not stored cannot be analysed.
    """
    from tqdm import tqdm

    paths = list(paths)
    return {song_id(p): store.load_song(p, config=config) for p in tqdm(paths, desc="songs (analysed unless stored)", unit="song", disable=not progress)}
