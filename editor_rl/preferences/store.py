"""The durable preference store: SQLite in WAL mode on disk, schema versioned with migrations.

What it holds: **candidates** (rendered edits of a song at a target, with the reward model's score
and uncertainty), **pairs** (comparison tasks between two candidates of one song and target),
**judgements** (a rater's A/B/tie with strength and notes) and **ratings** (absolute 1–5 quality
and overall scores of one candidate, as the seeds' 5-star form had).

Guarantees:

- every write is one transaction committed with ``synchronous=FULL`` before the call returns, so an
  acknowledged submit survives a crash of the process (and of the machine);
- submits and ratings are idempotent by ``idempotency_key``: a retry returns the first answer and
  stores nothing new;
- the schema carries its version (``PRAGMA user_version``) and :data:`MIGRATIONS` bring an older
  file up to date on open.

:meth:`PreferenceStore.export` writes the judgements as :class:`PreferenceRecord` JSONL or Parquet,
which the reward trainer reads as is. Pure Python and SQLite: no Ray here.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any, NamedTuple, Sequence

from editor_rl.errors import StoreError
from editor_rl.preferences.records import PREFERENCES, Candidate, PreferenceRecord, write_jsonl, write_parquet

MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema
    """
    CREATE TABLE candidates (
        candidate_id TEXT PRIMARY KEY, song_id TEXT NOT NULL, target_seconds REAL NOT NULL, edl TEXT NOT NULL,
        audio_path TEXT, source TEXT NOT NULL, temperature REAL, reward REAL, reward_std REAL, created REAL NOT NULL);
    CREATE TABLE pairs (
        pair_id TEXT PRIMARY KEY, song_id TEXT NOT NULL, a_id TEXT NOT NULL REFERENCES candidates(candidate_id),
        b_id TEXT NOT NULL REFERENCES candidates(candidate_id), target_seconds REAL NOT NULL,
        p_model_a REAL, uncertainty REAL NOT NULL DEFAULT 0.5, created REAL NOT NULL);
    CREATE TABLE judgements (
        id INTEGER PRIMARY KEY AUTOINCREMENT, idempotency_key TEXT NOT NULL UNIQUE, pair_id TEXT NOT NULL REFERENCES pairs(pair_id),
        rater_id TEXT NOT NULL, preference TEXT NOT NULL CHECK (preference IN ('a', 'b', 'tie')),
        strength INTEGER NOT NULL CHECK (strength BETWEEN 1 AND 3), notes TEXT NOT NULL DEFAULT '', created REAL NOT NULL);
    CREATE INDEX judgements_pair ON judgements(pair_id);
    CREATE INDEX judgements_rater ON judgements(rater_id, pair_id);
    CREATE TABLE ratings (
        id INTEGER PRIMARY KEY AUTOINCREMENT, idempotency_key TEXT NOT NULL UNIQUE,
        candidate_id TEXT NOT NULL REFERENCES candidates(candidate_id), rater_id TEXT NOT NULL,
        quality INTEGER NOT NULL CHECK (quality BETWEEN 1 AND 5), overall INTEGER NOT NULL CHECK (overall BETWEEN 1 AND 5),
        notes TEXT NOT NULL DEFAULT '', created REAL NOT NULL);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


class CandidateRow(NamedTuple):
    """A stored candidate edit."""

    candidate_id: str
    song_id: str
    target_seconds: float
    edl: dict
    audio_path: str | None
    source: str
    temperature: float | None
    reward: float | None
    reward_std: float | None


class PairRow(NamedTuple):
    """A comparison task: ``p_model_a`` is the reward model's P(a preferred), ``uncertainty`` in [0, 1]."""

    pair_id: str
    song_id: str
    a_id: str
    b_id: str
    target_seconds: float
    p_model_a: float | None
    uncertainty: float


class Submitted(NamedTuple):
    """The answer to a submit: the stored row's ``id`` and whether this call ``created`` it."""

    id: int
    created: bool


class PreferenceStore:
    """SQLite-backed store (see the module docstring). Thread-safe; one connection per thread.

    Parameters
    ----------
    path : str or Path
        The database file (created with its folder if missing).

    Raises
    ------
    StoreError
        The file is not a SQLite database, or its schema is newer than this code.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._migrate()

    # -- connection ----------------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
                conn.execute("PRAGMA foreign_keys=ON")
            except sqlite3.DatabaseError as e:
                raise StoreError(f"{self.path}: not a usable SQLite database ({e})") from e
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
        return conn

    def _tx(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Cursor:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            cur = conn.execute(sql, args)
            conn.execute("COMMIT")
            return cur
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _migrate(self) -> None:
        conn = self._conn()
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{self.path}: not a usable SQLite database ({e})") from e
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.path}: schema version {version} is newer than this editor-rl's ({SCHEMA_VERSION})")
        for v in range(version, SCHEMA_VERSION):
            conn.execute("BEGIN IMMEDIATE")
            try:
                for stmt in MIGRATIONS[v].split(";"):
                    if stmt.strip():
                        conn.execute(stmt)
                conn.execute(f"PRAGMA user_version = {v + 1}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    @property
    def schema_version(self) -> int:
        """The file's schema version."""
        return int(self._conn().execute("PRAGMA user_version").fetchone()[0])

    def integrity_check(self) -> str:
        """``PRAGMA integrity_check`` ("ok" when the file is sound)."""
        return str(self._conn().execute("PRAGMA integrity_check").fetchone()[0])

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- candidates and pairs ------------------------------------------------------------------
    def add_candidate(self, c: CandidateRow) -> None:
        """Store a candidate (replacing one with the same id)."""
        self._tx("INSERT OR REPLACE INTO candidates VALUES (?,?,?,?,?,?,?,?,?,?)",
                 (c.candidate_id, c.song_id, c.target_seconds, json.dumps(c.edl), c.audio_path, c.source, c.temperature, c.reward, c.reward_std, time.time()))

    def add_pair(self, p: PairRow) -> None:
        """Store a comparison task (replacing one with the same id).

        Raises
        ------
        StoreError
            A candidate it names is not stored.
        """
        try:
            self._tx("INSERT OR REPLACE INTO pairs VALUES (?,?,?,?,?,?,?,?)",
                     (p.pair_id, p.song_id, p.a_id, p.b_id, p.target_seconds, p.p_model_a, p.uncertainty, time.time()))
        except sqlite3.IntegrityError as e:
            raise StoreError(f"pair {p.pair_id!r}: unknown candidate {p.a_id!r} or {p.b_id!r}") from e

    def candidate(self, candidate_id: str) -> CandidateRow | None:
        """The candidate with this id, or None."""
        r = self._conn().execute("SELECT * FROM candidates WHERE candidate_id = ?", (candidate_id,)).fetchone()
        return None if r is None else _candidate(r)

    def pair(self, pair_id: str) -> PairRow | None:
        """The pair with this id, or None."""
        r = self._conn().execute("SELECT pair_id, song_id, a_id, b_id, target_seconds, p_model_a, uncertainty FROM pairs WHERE pair_id = ?", (pair_id,)).fetchone()
        return None if r is None else PairRow(*r)

    def next_pairs(self, *, rater_id: str, n: int) -> list[PairRow]:
        """Active learning: up to ``n`` pairs this rater has not judged, the reward model's least
        certain first (ties broken by fewest judgements so far, then at random)."""
        rows = self._conn().execute(
            """SELECT p.pair_id, p.song_id, p.a_id, p.b_id, p.target_seconds, p.p_model_a, p.uncertainty
               FROM pairs p LEFT JOIN (SELECT pair_id, COUNT(*) AS n FROM judgements GROUP BY pair_id) j ON j.pair_id = p.pair_id
               WHERE p.pair_id NOT IN (SELECT pair_id FROM judgements WHERE rater_id = ?)
               ORDER BY p.uncertainty DESC, COALESCE(j.n, 0) ASC, RANDOM() LIMIT ?""", (rater_id, int(n))).fetchall()
        return [PairRow(*r) for r in rows]

    # -- feedback --------------------------------------------------------------------------------
    def submit(self, *, pair_id: str, rater_id: str, preference: str, strength: int, notes: str = "", idempotency_key: str | None = None) -> Submitted:
        """Store a judgement (idempotent by ``idempotency_key``).

        Raises
        ------
        StoreError
            Unknown pair, preference not a/b/tie, strength not 1–3.
        KeyError
            ``pair_id`` is not stored.
        """
        if preference not in PREFERENCES:
            raise StoreError(f"preference={preference!r}: must be one of {', '.join(PREFERENCES)}")
        if not (isinstance(strength, int) and 1 <= strength <= 3):
            raise StoreError(f"strength={strength!r}: must be 1, 2 or 3")
        if self.pair(pair_id) is None:
            raise KeyError(pair_id)
        key = idempotency_key or uuid.uuid4().hex
        return self._insert_once("judgements", key, "INSERT INTO judgements (idempotency_key, pair_id, rater_id, preference, strength, notes, created) VALUES (?,?,?,?,?,?,?)",
                                 (key, pair_id, rater_id, preference, strength, notes, time.time()))

    def rate(self, *, candidate_id: str, rater_id: str, quality: int, overall: int, notes: str = "", idempotency_key: str | None = None) -> Submitted:
        """Store an absolute 1–5 rating of one candidate (idempotent by ``idempotency_key``).

        Raises
        ------
        StoreError
            A score outside 1–5.
        KeyError
            ``candidate_id`` is not stored.
        """
        for name, v in (("quality", quality), ("overall", overall)):
            if not (isinstance(v, int) and 1 <= v <= 5):
                raise StoreError(f"{name}={v!r}: must be an integer from 1 to 5")
        if self.candidate(candidate_id) is None:
            raise KeyError(candidate_id)
        key = idempotency_key or uuid.uuid4().hex
        return self._insert_once("ratings", key, "INSERT INTO ratings (idempotency_key, candidate_id, rater_id, quality, overall, notes, created) VALUES (?,?,?,?,?,?,?)",
                                 (key, candidate_id, rater_id, quality, overall, notes, time.time()))

    def _insert_once(self, table: str, key: str, sql: str, args: tuple) -> Submitted:
        try:
            return Submitted(int(self._tx(sql, args).lastrowid), True)
        except sqlite3.IntegrityError:
            row = self._conn().execute(f"SELECT id FROM {table} WHERE idempotency_key = ?", (key,)).fetchone()
            if row is None:
                raise
            return Submitted(int(row[0]), False)

    # -- reading out ---------------------------------------------------------------------------
    def records(self) -> list[PreferenceRecord]:
        """Every judgement as a :class:`PreferenceRecord` (``source="human"``), oldest first."""
        rows = self._conn().execute(
            """SELECT j.id, j.pair_id, j.rater_id, j.preference, j.strength, j.notes, p.song_id, p.target_seconds,
                      ca.candidate_id, ca.edl, cb.candidate_id, cb.edl
               FROM judgements j JOIN pairs p ON p.pair_id = j.pair_id
               JOIN candidates ca ON ca.candidate_id = p.a_id JOIN candidates cb ON cb.candidate_id = p.b_id ORDER BY j.id""").fetchall()
        return [PreferenceRecord(pair_id=f"{r[1]}#{r[0]}", song_id=r[6], a=Candidate(r[8], json.loads(r[9])), b=Candidate(r[10], json.loads(r[11])),
                                 preference=r[3], strength=int(r[4]), rater_id=r[2], notes=r[5], source="human", target_seconds=float(r[7])) for r in rows]

    def export(self, path: str | Path, *, format: str = "jsonl") -> Path:
        """Write :meth:`records` as JSONL or Parquet (atomically).

        Raises
        ------
        StoreError
            ``format`` is neither 'jsonl' nor 'parquet'.
        """
        if format == "jsonl":
            return write_jsonl(path, self.records())
        if format == "parquet":
            return write_parquet(path, self.records())
        raise StoreError(f"format={format!r}: must be 'jsonl' or 'parquet'")

    def ratings(self) -> list[dict]:
        """Every rating (candidate_id, rater_id, quality, overall, notes)."""
        return [dict(r) for r in self._conn().execute("SELECT candidate_id, rater_id, quality, overall, notes FROM ratings ORDER BY id")]

    def stats(self) -> dict:
        """Counts per rater and per song, preference balance, human–model and inter-rater agreement.

        Human–model agreement: share of non-tie judgements whose side the reward model favoured
        (``p_model_a`` > 0.5 for 'a'). Inter-rater agreement: over pairs judged by two or more
        raters, the share of pairs of judgements (of one pair) that agree.
        """
        c = self._conn()
        j = c.execute("SELECT j.pair_id, j.rater_id, j.preference, p.song_id, p.p_model_a FROM judgements j JOIN pairs p ON p.pair_id = j.pair_id").fetchall()
        per_rater: dict[str, int] = {}
        per_song: dict[str, int] = {}
        balance = {"a": 0, "b": 0, "tie": 0}
        agree_model, by_pair = [], {}
        for pair_id, rater, pref, song, p_a in j:
            per_rater[rater] = per_rater.get(rater, 0) + 1
            per_song[song] = per_song.get(song, 0) + 1
            balance[pref] += 1
            if pref != "tie" and p_a is not None and p_a != 0.5:
                agree_model.append((p_a > 0.5) == (pref == "a"))
            by_pair.setdefault(pair_id, []).append(pref)
        agree_raters = [x == y for prefs in by_pair.values() for i, x in enumerate(prefs) for y in prefs[i + 1 :]]
        return {
            "judgements": len(j), "ratings": int(c.execute("SELECT COUNT(*) FROM ratings").fetchone()[0]),
            "pairs": int(c.execute("SELECT COUNT(*) FROM pairs").fetchone()[0]), "candidates": int(c.execute("SELECT COUNT(*) FROM candidates").fetchone()[0]),
            "per_rater": per_rater, "per_song": per_song, "balance": balance,
            "human_model_agreement": sum(agree_model) / len(agree_model) if agree_model else None, "human_model_compared": len(agree_model),
            "inter_rater_agreement": sum(agree_raters) / len(agree_raters) if agree_raters else None, "inter_rater_compared": len(agree_raters),
        }


def _candidate(r: sqlite3.Row) -> CandidateRow:
    return CandidateRow(r["candidate_id"], r["song_id"], float(r["target_seconds"]), json.loads(r["edl"]), r["audio_path"], r["source"],
                        r["temperature"], r["reward"], r["reward_std"])
