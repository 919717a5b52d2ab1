"""The durable preference store: SQLite in WAL mode on disk (default) or PostgreSQL by URL, schema
versioned with migrations.

What it holds: **candidates** (rendered edits of a song at a target, content-addressed: the id is a
hash of the song's content, the target, the EDL and the producing model, so an id always means the
same edit), **pairs** (comparison tasks between two candidates of one song and target, with the
reward model's P(a) and uncertainty; a pair can be retired from judging), **judgements** (a rater's
A/B/tie with strength and notes, *and the two candidates and EDLs that were shown*) and **ratings**
(absolute 1–5 feel, quality and overall scores of one candidate), and **verifications** (pairs of a
new model version's served edit against its parent's, judged before the version may be served; see
:mod:`editor_rl.rlhf.verification`). Verification pairs are offered apart from the active-learning
pairs (:meth:`PreferenceStore.verification_pairs`) and are not training data (:meth:`records`).

Guarantees:

- every write is one transaction committed before the call returns (SQLite with
  ``synchronous=FULL``), so an acknowledged submit survives a crash of the process (and of the machine);
- a stored candidate's content never changes (only its reward score is refreshed), and each
  judgement keeps the EDLs it was made on, so an export means the same thing forever;
- one judgement per (pair, rater), one rating per (candidate, rater): replaying a submit with the
  same body (same idempotency key, or none) returns the stored one; another body raises
  :class:`~editor_rl.errors.ConflictError` (HTTP 409);
- the schema carries its version (table ``editor_rl_schema``) and :data:`MIGRATIONS` bring an older
  database up to date on open.

A PostgreSQL URL is never printed with its password (``repr`` and errors redact it); prefer
``PGPASSWORD`` or ``~/.pgpass`` to a password in the URL.

``PreferenceStore("runs/serve/preferences.sqlite")`` opens (or creates) a SQLite file;
``PreferenceStore("postgresql://user@host:5432/db")`` a PostgreSQL database (psycopg 3). The SQL is
shared (upserts with ``ON CONFLICT``, ``RETURNING``); only the column types of the migrations differ.

:meth:`PreferenceStore.export` writes the judgements as :class:`PreferenceRecord` JSONL or Parquet,
which the reward trainer reads as is. Pure Python and SQLite: no Ray here.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Sequence

from editor_rl.errors import ConflictError, StoreError
from editor_rl.preferences.records import PREFERENCES, Candidate, PreferenceRecord, write_jsonl, write_parquet
from editor_rl.preferences.store_schema import (  # noqa: F401 (the store's rows are part of its API)
    CANDIDATE_COLUMNS,
    MIGRATIONS,
    PAIR_COLUMNS,
    SCHEMA_VERSION,
    TYPES,
    CandidateRow,
    PairRow,
    Submitted,
    Tally,
    VerificationRow,
    candidate_row,
    redact,
    token_hash,
)


def resolve_location(location: str) -> str:
    """A store location with ``env:NAME`` replaced by that environment variable's value.

    Raises
    ------
    StoreError
        ``NAME`` is not set or empty (the message names the variable, never a value).
    """
    if not location.startswith("env:"):
        return location
    name = location[4:]
    value = os.environ.get(name, "")
    if not value:
        raise StoreError(f"store location {location!r}: environment variable {name} is not set")
    return value


class PreferenceStore:
    """The store (see the module docstring). Thread-safe: one connection per thread.

    Parameters
    ----------
    location : str or Path
        A SQLite file (created with its folder if missing), a ``postgresql://`` URL, or ``env:NAME``:
        the URL in environment variable ``NAME`` (a Secret on Kubernetes; nothing secret in a config).

    Raises
    ------
    StoreError
        The file is not a SQLite database, the server cannot be reached, or the schema is newer
        than this code.
    """

    def __init__(self, location: str | Path) -> None:
        self.location = resolve_location(str(location))
        self.backend = "postgres" if self.location.startswith(("postgresql://", "postgres://")) else "sqlite"
        if self.backend == "sqlite":
            self.path = Path(self.location)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._integrity_errors: tuple[type[Exception], ...] = (sqlite3.IntegrityError,)
            self._db_errors: tuple[type[Exception], ...] = (sqlite3.DatabaseError,)
        else:
            import psycopg

            self._integrity_errors, self._db_errors = (psycopg.errors.IntegrityError,), (psycopg.Error,)
        self._local = threading.local()
        self._migrate()

    def __repr__(self) -> str:
        return f"PreferenceStore({redact(self.location)!r})"

    # -- connection ----------------------------------------------------------------------------
    def _conn(self):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                if self.backend == "sqlite":
                    conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
                    conn.execute("PRAGMA journal_mode=WAL")
                    conn.execute("PRAGMA synchronous=FULL")
                    conn.execute("PRAGMA foreign_keys=ON")
                else:
                    import psycopg

                    conn = psycopg.connect(self.location, autocommit=True, connect_timeout=10)
            except self._db_errors as e:
                raise StoreError(f"{redact(self.location)}: not a usable {self.backend} database ({redact(str(e))})") from None
            self._local.conn = conn
        return conn

    def _sql(self, sql: str) -> str:
        return sql if self.backend == "sqlite" else sql.replace("?", "%s")

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        """Rows of a query (outside a transaction)."""
        return [tuple(r) for r in self._conn().execute(self._sql(sql), tuple(args)).fetchall()]

    def _write(self, *statements: tuple[str, Sequence[Any]]) -> list[tuple]:
        """Run statements in one transaction; the rows the last one returned."""
        conn = self._conn()
        if self.backend == "postgres":
            with conn.transaction():
                cur = None
                for sql, args in statements:
                    cur = conn.execute(self._sql(sql), tuple(args))
                return [tuple(r) for r in cur.fetchall()] if cur is not None and cur.description else []
        conn.execute("BEGIN IMMEDIATE")
        try:
            cur = None
            for sql, args in statements:
                cur = conn.execute(sql, tuple(args))
            rows = [tuple(r) for r in cur.fetchall()] if cur is not None and cur.description else []
            conn.execute("COMMIT")
            return rows
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _migrate(self) -> None:
        try:
            self._write(("CREATE TABLE IF NOT EXISTS editor_rl_schema (version INTEGER NOT NULL)", ()))
            rows = self._rows("SELECT version FROM editor_rl_schema")
        except self._db_errors as e:
            raise StoreError(f"{redact(self.location)}: not a usable {self.backend} database ({redact(str(e))})") from None
        version = rows[0][0] if rows else 0
        if version > SCHEMA_VERSION:
            raise StoreError(f"{redact(self.location)}: schema version {version} is newer than this editor-rl's ({SCHEMA_VERSION})")
        for v in range(version, SCHEMA_VERSION):
            stmts = [(x.strip(), ()) for x in MIGRATIONS[v].format(**TYPES[self.backend]).split(";") if x.strip()]
            stmts += [("DELETE FROM editor_rl_schema", ()), ("INSERT INTO editor_rl_schema VALUES (?)", (v + 1,))]
            self._write(*stmts)

    @property
    def schema_version(self) -> int:
        """The database's schema version."""
        return int(self._rows("SELECT version FROM editor_rl_schema")[0][0])

    def integrity_check(self) -> str:
        """"ok" when the database is sound: SQLite's ``PRAGMA integrity_check``; on PostgreSQL, every
        table is read end to end."""
        if self.backend == "sqlite":
            return str(self._rows("PRAGMA integrity_check")[0][0])
        for table in ("candidates", "pairs", "judgements", "ratings"):
            self._rows(f"SELECT * FROM {table}")
        return "ok"

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- candidates and pairs ------------------------------------------------------------------
    def add_candidate(self, c: CandidateRow) -> None:
        """Store a candidate. A stored id keeps its content (ids are content addresses); only its reward
        score and a missing audio path are refreshed."""
        self._write(("""INSERT INTO candidates (candidate_id, song_id, target_seconds, edl, audio_path, source, temperature, reward, reward_std, created, model)
                        VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (candidate_id) DO UPDATE SET reward = excluded.reward, reward_std = excluded.reward_std,
                        audio_path = COALESCE(candidates.audio_path, excluded.audio_path)""",
                     (c.candidate_id, c.song_id, c.target_seconds, json.dumps(c.edl), c.audio_path, c.source, c.temperature, c.reward, c.reward_std, time.time(), c.model)))

    def add_pair(self, p: PairRow) -> None:
        """Store a comparison task (a stored pair keeps its candidates; its model scores are refreshed
        and it is no longer retired).

        Raises
        ------
        StoreError
            A candidate it names is not stored.
        """
        try:
            self._write(("""INSERT INTO pairs (pair_id, song_id, a_id, b_id, target_seconds, p_model_a, uncertainty, created) VALUES (?,?,?,?,?,?,?,?)
                            ON CONFLICT (pair_id) DO UPDATE SET p_model_a = excluded.p_model_a, uncertainty = excluded.uncertainty, retired = 0""",
                         (p.pair_id, p.song_id, p.a_id, p.b_id, p.target_seconds, p.p_model_a, p.uncertainty, time.time())))
        except self._integrity_errors as e:
            raise StoreError(f"pair {p.pair_id!r}: unknown candidate {p.a_id!r} or {p.b_id!r}") from e

    def retire_pairs(self, *, keep: set[str]) -> int:
        """Stop offering every pair not in ``keep`` for judging (their judgements stay; verification
        pairs are retired only with their round); returns how many."""
        live = [r[0] for r in self._rows("SELECT pair_id FROM pairs WHERE retired = 0 AND pair_id NOT IN (SELECT pair_id FROM verifications)")]
        gone = [pid for pid in live if pid not in keep]
        for k in range(0, len(gone), 500):
            part = gone[k : k + 500]
            self._write((f"UPDATE pairs SET retired = 1 WHERE pair_id IN ({','.join('?' * len(part))})", part))
        return len(gone)

    def candidate(self, candidate_id: str) -> CandidateRow | None:
        """The candidate with this id, or None."""
        r = self._rows(f"SELECT {CANDIDATE_COLUMNS} FROM candidates WHERE candidate_id = ?", (candidate_id,))
        return candidate_row(r[0]) if r else None

    def pair(self, pair_id: str) -> PairRow | None:
        """The pair with this id, or None."""
        r = self._rows(f"SELECT {PAIR_COLUMNS} FROM pairs WHERE pair_id = ?", (pair_id,))
        return PairRow(*r[0]) if r else None

    def live_pairs(self) -> list[PairRow]:
        """Every pair still offered for judging."""
        return [PairRow(*r) for r in self._rows(f"SELECT {PAIR_COLUMNS} FROM pairs WHERE retired = 0 ORDER BY pair_id")]

    def next_pairs(self, *, rater_id: str, n: int) -> list[PairRow]:
        """Active learning: up to ``n`` live pairs this rater has not judged, the reward model's least
        certain first (ties broken by fewest judgements so far, then at random)."""
        rows = self._rows(
            f"""SELECT {", ".join("p." + c for c in PAIR_COLUMNS.split(", "))}
               FROM pairs p LEFT JOIN (SELECT pair_id, COUNT(*) AS n FROM judgements GROUP BY pair_id) j ON j.pair_id = p.pair_id
               WHERE p.retired = 0 AND p.pair_id NOT IN (SELECT pair_id FROM judgements WHERE rater_id = ?)
                     AND p.pair_id NOT IN (SELECT pair_id FROM verifications)
               ORDER BY p.uncertainty DESC, COALESCE(j.n, 0) ASC, RANDOM() LIMIT ?""", (rater_id, int(n)))
        return [PairRow(*r) for r in rows]

    # -- verification rounds ---------------------------------------------------------------------
    def add_verification(self, pair: PairRow, row: VerificationRow) -> None:
        """Store a verification pair (its candidates must be stored)."""
        self.add_pair(pair)
        self._write(("""INSERT INTO verifications (pair_id, version, parent, new_side, rater_id, created) VALUES (?,?,?,?,?,?)
                        ON CONFLICT (pair_id) DO NOTHING""", (row.pair_id, row.version, row.parent, row.new_side, row.rater_id, time.time())))

    def verification(self, pair_id: str) -> VerificationRow | None:
        """The verification a pair belongs to, or None."""
        r = self._rows("SELECT pair_id, version, parent, new_side, rater_id FROM verifications WHERE pair_id = ?", (pair_id,))
        return VerificationRow(*r[0]) if r else None

    def verification_pairs(self, *, rater_id: str, n: int) -> list[PairRow]:
        """Up to ``n`` live verification pairs this rater may judge and has not, least judged first."""
        rows = self._rows(
            f"""SELECT {", ".join("p." + c for c in PAIR_COLUMNS.split(", "))} FROM pairs p JOIN verifications v ON v.pair_id = p.pair_id
               WHERE p.retired = 0 AND (v.rater_id IS NULL OR v.rater_id = ?) AND p.pair_id NOT IN (SELECT pair_id FROM judgements WHERE rater_id = ?)
               ORDER BY (SELECT COUNT(*) FROM judgements j WHERE j.pair_id = p.pair_id) ASC, RANDOM() LIMIT ?""", (rater_id, rater_id, int(n)))
        return [PairRow(*r) for r in rows]

    def verification_tally(self, version: str) -> Tally:
        """The judgements of ``version``'s verification pairs that count (its rater's, or anyone's)."""
        rows = self._rows("""SELECT j.preference, v.new_side FROM judgements j JOIN verifications v ON v.pair_id = j.pair_id
                             WHERE v.version = ? AND (v.rater_id IS NULL OR v.rater_id = j.rater_id)""", (version,))
        wins = sum(1.0 if pref == side else 0.5 if pref == "tie" else 0.0 for pref, side in rows)
        left = self._rows("""SELECT COUNT(*) FROM verifications v JOIN pairs p ON p.pair_id = v.pair_id WHERE v.version = ? AND p.retired = 0
                             AND NOT EXISTS (SELECT 1 FROM judgements j WHERE j.pair_id = v.pair_id AND (v.rater_id IS NULL OR j.rater_id = v.rater_id))""",
                          (version,))[0][0]
        return Tally(len(rows), wins, int(left) > 0)

    def end_verification(self, version: str) -> int:
        """Retire ``version``'s verification pairs (its round is settled); returns how many."""
        return len(self._write(("UPDATE pairs SET retired = 1 WHERE pair_id IN (SELECT pair_id FROM verifications WHERE version = ?) RETURNING pair_id",
                                (version,))))

    # -- feedback --------------------------------------------------------------------------------
    def submit(self, *, pair_id: str, rater_id: str, preference: str, strength: int, notes: str = "", idempotency_key: str | None = None,
               mood_preference: str | None = None) -> Submitted:
        """Store a judgement of a pair with the two candidates (and EDLs) it shows now; for a pair
        asked for a mood, ``mood_preference`` says which fits the mood better (a, b, tie or None).

        One per (pair, rater): a replay with the same body returns the stored one (``created``
        False), whatever the key.

        Raises
        ------
        StoreError
            Preference not a/b/tie, strength not 1–3.
        ConflictError
            The key, or this rater's judgement of this pair, is stored with another body.
        KeyError
            ``pair_id`` is not stored.
        """
        if preference not in PREFERENCES:
            raise StoreError(f"preference={preference!r}: must be one of {', '.join(PREFERENCES)}")
        if not (isinstance(strength, int) and 1 <= strength <= 3):
            raise StoreError(f"strength={strength!r}: must be 1, 2 or 3")
        if mood_preference is not None and mood_preference not in PREFERENCES:
            raise StoreError(f"mood_preference={mood_preference!r}: must be one of {', '.join(PREFERENCES)} or absent")
        pair = self.pair(pair_id)
        if pair is None:
            raise KeyError(pair_id)
        a, b = self.candidate(pair.a_id), self.candidate(pair.b_id)
        body = {"pair_id": pair_id, "rater_id": rater_id, "preference": preference, "strength": strength, "notes": notes, "mood_preference": mood_preference}
        key = idempotency_key or f"{pair_id}|{rater_id}"
        row = (key, pair_id, rater_id, preference, strength, notes, time.time(), a.candidate_id, b.candidate_id, json.dumps(a.edl), json.dumps(b.edl), mood_preference)
        return self._insert_unique("judgements", key, body, ("pair_id", "rater_id"),
                                   "(idempotency_key, pair_id, rater_id, preference, strength, notes, created, a_id, b_id, a_edl, b_edl, mood_preference)", row)

    def rate(self, *, candidate_id: str, rater_id: str, quality: int, overall: int, feel: int | None = None, notes: str = "",
             idempotency_key: str | None = None) -> Submitted:
        """Store absolute 1–5 scores of one candidate: how well the edit keeps the song's *feel*, its
        *quality* (seams, flow) and *overall*. One per (candidate, rater), replayed as :meth:`submit` is.

        Raises
        ------
        StoreError
            A score outside 1–5.
        ConflictError
            The key, or this rater's rating of this candidate, is stored with another body.
        KeyError
            ``candidate_id`` is not stored.
        """
        for name, v in (("feel", feel), ("quality", quality), ("overall", overall)):
            if v is None and name == "feel":
                continue
            if not (isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 5):
                raise StoreError(f"{name}={v!r}: must be an integer from 1 to 5")
        if self.candidate(candidate_id) is None:
            raise KeyError(candidate_id)
        body = {"candidate_id": candidate_id, "rater_id": rater_id, "feel": feel, "quality": quality, "overall": overall, "notes": notes}
        key = idempotency_key or f"{candidate_id}|{rater_id}"
        return self._insert_unique("ratings", key, body, ("candidate_id", "rater_id"),
                                   "(idempotency_key, candidate_id, rater_id, feel, quality, overall, notes, created)",
                                   (key, candidate_id, rater_id, feel, quality, overall, notes, time.time()))

    def _insert_unique(self, table: str, key: str, body: dict, natural: tuple[str, str], columns: str, args: tuple) -> Submitted:
        """Insert once per idempotency key and per natural key; the stored row if it has the same body."""
        marks = ",".join("?" * len(args))
        rows = self._write((f"INSERT INTO {table} {columns} VALUES ({marks}) ON CONFLICT DO NOTHING RETURNING id", args))
        if rows:
            return Submitted(int(rows[0][0]), True)
        names = list(body)
        found = self._rows(f"SELECT id, idempotency_key, {', '.join(names)} FROM {table} WHERE idempotency_key = ? OR ({natural[0]} = ? AND {natural[1]} = ?)",
                           (key, body[natural[0]], body[natural[1]]))
        for r in found:
            stored = dict(zip(names, r[2:]))
            if stored == body:
                return Submitted(int(r[0]), False)
        what = "this key" if any(r[1] == key for r in found) else f"{natural[1]} {body[natural[1]]!r} for {natural[0]} {body[natural[0]]!r}"
        raise ConflictError(f"{table}: {what} is already stored with another answer; a replay must repeat the same body")

    # -- raters ----------------------------------------------------------------------------------
    def add_rater(self, name: str) -> str:
        """Register a rater and return their new token (shown once; only its hash is kept).

        Raises
        ------
        StoreError
            The name is not 1–64 letters, digits, '.', '_' or '-'.
        ConflictError
            A rater of that name exists.
        """
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", name or ""):
            raise StoreError(f"rater name {name!r}: use 1–64 letters, digits, '.', '_' or '-'")
        token = secrets.token_urlsafe(32)
        rows = self._write(("INSERT INTO raters (name, token_hash, created) VALUES (?,?,?) ON CONFLICT DO NOTHING RETURNING name",
                            (name, token_hash(token), time.time())))
        if not rows:
            raise ConflictError(f"rater {name!r} already exists")
        return token

    def rater_for_token(self, token: str) -> str | None:
        """The rater whose token this is, or None."""
        r = self._rows("SELECT name FROM raters WHERE token_hash = ?", (token_hash(token.strip()),))
        return r[0][0] if r else None

    def raters(self) -> list[dict]:
        """Every registered rater with their judgement and rating counts."""
        rows = self._rows("""SELECT r.name, r.created, (SELECT COUNT(*) FROM judgements j WHERE j.rater_id = r.name),
                                    (SELECT COUNT(*) FROM ratings t WHERE t.rater_id = r.name) FROM raters r ORDER BY r.name""")
        return [{"name": n, "created": c, "judgements": int(j), "ratings": int(t)} for n, c, j, t in rows]

    # -- reading out ---------------------------------------------------------------------------
    def records(self, *, since_id: int = 0, rater_id: str | None = None, verification: bool = False) -> list[PreferenceRecord]:
        """Judgements as :class:`PreferenceRecord` (``source="human"``), oldest first, each with the
        candidates and EDLs its rater was shown (``pair_id`` is ``<pair>#<judgement id>``); those of
        verification pairs only with ``verification`` (they judge versions, they do not train them).

        Parameters
        ----------
        since_id : int
            Only judgements with a larger id (the ones a training cycle has not used yet).
        rater_id : str or None
            Only this rater's.
        """
        rows = self._rows(
            """SELECT j.id, j.pair_id, j.rater_id, j.preference, j.strength, j.notes, p.song_id, p.target_seconds, j.a_id, j.a_edl, j.b_id, j.b_edl,
                      j.mood_preference
               FROM judgements j JOIN pairs p ON p.pair_id = j.pair_id WHERE j.id > ? AND (CAST(? AS TEXT) IS NULL OR j.rater_id = ?)
               AND (? OR j.pair_id NOT IN (SELECT pair_id FROM verifications)) ORDER BY j.id""",
            (int(since_id), rater_id, rater_id, bool(verification)))
        return [PreferenceRecord(pair_id=f"{r[1]}#{r[0]}", song_id=r[6], a=Candidate(r[8], json.loads(r[9])), b=Candidate(r[10], json.loads(r[11])),
                                 preference=r[3], strength=int(r[4]), rater_id=r[2], notes=r[5], source="human", target_seconds=float(r[7]),
                                 mood_preference=r[12]) for r in rows]

    def export(self, path: str | Path, *, format: str = "jsonl") -> Path:
        """Write :meth:`records` as JSONL or Parquet (atomically).

        Raises
        ------
        StoreError
            ``format`` is neither 'jsonl' nor 'parquet'.
        """
        if format == "jsonl":
            return write_jsonl(path, self.records(verification=True))
        if format == "parquet":
            return write_parquet(path, self.records(verification=True))
        raise StoreError(f"format={format!r}: must be 'jsonl' or 'parquet'")

    def ratings(self, *, since_id: int = 0, rater_id: str | None = None) -> list[dict]:
        """Ratings with their candidates (id, candidate_id, song_id, target_seconds, edl, rater_id, feel,
        quality, overall, notes), oldest first; only ids above ``since_id``, only ``rater_id``'s if given."""
        keys = ("id", "candidate_id", "song_id", "target_seconds", "edl", "rater_id", "feel", "quality", "overall", "notes")
        rows = self._rows("""SELECT r.id, r.candidate_id, c.song_id, c.target_seconds, c.edl, r.rater_id, r.feel, r.quality, r.overall, r.notes
                             FROM ratings r JOIN candidates c ON c.candidate_id = r.candidate_id
                             WHERE r.id > ? AND (CAST(? AS TEXT) IS NULL OR r.rater_id = ?) ORDER BY r.id""", (int(since_id), rater_id, rater_id))
        return [dict(zip(keys, r[:4] + (json.loads(r[4]),) + r[5:])) for r in rows]

    def stats(self) -> dict:
        """Counts per rater and per song, preference balance, human–model agreement (overall and per
        rater) and inter-rater agreement.

        Human–model agreement: share of non-tie judgements whose side the reward model favoured
        (``p_model_a`` > 0.5 for 'a'). Inter-rater agreement: over pairs judged by two or more
        raters, the share of pairs of judgements (of one pair) that agree.
        """
        j = self._rows("SELECT j.pair_id, j.rater_id, j.preference, p.song_id, p.p_model_a FROM judgements j JOIN pairs p ON p.pair_id = j.pair_id")
        per_rater: dict[str, int] = {}
        per_song: dict[str, int] = {}
        balance = {"a": 0, "b": 0, "tie": 0}
        agree_model, by_pair, rater_agree = [], {}, {}
        for pair_id, rater, pref, song, p_a in j:
            per_rater[rater] = per_rater.get(rater, 0) + 1
            per_song[song] = per_song.get(song, 0) + 1
            balance[pref] += 1
            if pref != "tie" and p_a is not None and p_a != 0.5:
                agree_model.append((p_a > 0.5) == (pref == "a"))
                rater_agree.setdefault(rater, []).append(agree_model[-1])
            by_pair.setdefault(pair_id, []).append(pref)
        agree_raters = [x == y for prefs in by_pair.values() for i, x in enumerate(prefs) for y in prefs[i + 1 :]]
        count = {t: int(self._rows(f"SELECT COUNT(*) FROM {t}")[0][0]) for t in ("ratings", "pairs", "candidates")}
        return {
            "judgements": len(j), **count, "per_rater": per_rater, "per_song": per_song, "balance": balance,
            "per_rater_model_agreement": {r: sum(v) / len(v) for r, v in sorted(rater_agree.items())},
            "human_model_agreement": sum(agree_model) / len(agree_model) if agree_model else None, "human_model_compared": len(agree_model),
            "inter_rater_agreement": sum(agree_raters) / len(agree_raters) if agree_raters else None, "inter_rater_compared": len(agree_raters),
        }
