"""Preference records (docs/design.md's contract) and their JSONL / Parquet files.

A record says which of two edits of one song a rater preferred::

    {"pair_id": "…", "song_id": "…", "a": {"candidate_id": "…", "edl": {…}},
     "b": {"candidate_id": "…", "edl": {…}}, "preference": "a" | "b" | "tie",
     "strength": 1 | 2 | 3, "rater_id": "…", "notes": "…", "source": "human" | "synthetic",
     "target_seconds": 30.0}

``target_seconds`` (the length the rater was asked to judge against) is optional. Reading a file
checks every row; a malformed row (unknown preference, strength out of range, an EDL pointing past
the song, a missing field, bad JSON) raises :class:`~editor_rl.errors.PreferenceDataError` naming
its line (row) number, and nothing from that file is returned.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from editor_rl.edit.plan import EditPlan
from editor_rl.errors import InvalidEditError, PreferenceDataError

PREFERENCES = ("a", "b", "tie")
SOURCES = ("human", "synthetic")


@dataclass(frozen=True)
class Candidate:
    """One edit in a pair: an id and its EDL (a dict as written by ``EditPlan.to_edl``)."""

    candidate_id: str
    edl: dict

    def plan(self, *, source_duration_s: float | None = None) -> EditPlan:
        """The candidate's :class:`EditPlan` (checked against the source's length when given)."""
        return EditPlan.from_edl(self.edl, source_duration_s=source_duration_s, where=f"candidate {self.candidate_id}")


@dataclass(frozen=True)
class PreferenceRecord:
    """One A/B judgement."""

    pair_id: str
    song_id: str
    a: Candidate
    b: Candidate
    preference: str
    strength: int
    rater_id: str
    notes: str = ""
    source: str = "human"
    target_seconds: float | None = None
    mood_preference: str | None = None
    """For a pair asked for a mood: which edit fits it better (a, b, tie), if the rater said."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict in the contract's shape (``target_seconds`` and ``mood_preference`` only when set)."""
        d = asdict(self)
        for key in ("target_seconds", "mood_preference"):
            if d[key] is None:
                del d[key]
        return d


def new_pair_id() -> str:
    """A fresh random pair id."""
    return uuid.uuid4().hex[:16]


def _str(row: Mapping[str, Any], key: str, *, required: bool = True, default: str = "") -> str:
    if key not in row:
        if required:
            raise ValueError(f"missing field {key!r}")
        return default
    v = row[key]
    if not isinstance(v, str) or (required and not v):
        raise ValueError(f"{key}={v!r} must be a non-empty string" if required else f"{key}={v!r} must be a string")
    return v


def _candidate(row: Mapping[str, Any], key: str, durations: Mapping[str, float] | None, song_id: str) -> Candidate:
    c = row.get(key)
    if not isinstance(c, Mapping):
        raise ValueError(f"missing field {key!r} (an object with candidate_id and edl)")
    cid = c.get("candidate_id")
    if not isinstance(cid, str) or not cid:
        raise ValueError(f"{key}.candidate_id={cid!r} must be a non-empty string")
    edl = c.get("edl")
    if not isinstance(edl, Mapping):
        raise ValueError(f"{key}.edl must be an EDL object")
    try:
        EditPlan.from_edl(edl, source_duration_s=durations.get(song_id) if durations else None, where=f"{key}.edl")
    except InvalidEditError as exc:
        raise ValueError(str(exc)) from None
    return Candidate(candidate_id=cid, edl=dict(edl))


def record_from_dict(row: Any, *, durations: Mapping[str, float] | None = None) -> PreferenceRecord:
    """Validate one row.

    Parameters
    ----------
    row : any
        A decoded JSON object.
    durations : mapping of song id to seconds, or None
        When given, the song must be known and every EDL segment must lie inside it.

    Raises
    ------
    ValueError
        What is wrong with the row (callers add the line number).
    """
    if not isinstance(row, Mapping):
        raise ValueError(f"expected a JSON object, got {type(row).__name__}")
    song_id = _str(row, "song_id")
    if durations is not None and song_id not in durations:
        raise ValueError(f"song_id={song_id!r} is not in the songs folder")
    pref = row.get("preference")
    if pref not in PREFERENCES:
        raise ValueError(f"preference={pref!r} must be one of 'a', 'b', 'tie'")
    strength = row.get("strength", 1)
    if isinstance(strength, bool) or not isinstance(strength, int) or not 1 <= strength <= 3:
        raise ValueError(f"strength={strength!r} must be 1, 2 or 3")
    source = row.get("source", "human")
    if source not in SOURCES:
        raise ValueError(f"source={source!r} must be 'human' or 'synthetic'")
    target = row.get("target_seconds")
    if target is not None and (isinstance(target, bool) or not isinstance(target, (int, float)) or not target > 0):
        raise ValueError(f"target_seconds={target!r} must be a positive number")
    mood_pref = row.get("mood_preference")
    if mood_pref is not None and mood_pref not in PREFERENCES:
        raise ValueError(f"mood_preference={mood_pref!r} must be one of 'a', 'b', 'tie' or absent")
    a = _candidate(row, "a", durations, song_id)
    b = _candidate(row, "b", durations, song_id)
    return PreferenceRecord(
        pair_id=_str(row, "pair_id"), song_id=song_id, a=a, b=b, preference=pref, strength=strength,
        rater_id=_str(row, "rater_id"), notes=_str(row, "notes", required=False), source=source,
        target_seconds=float(target) if target is not None else None, mood_preference=mood_pref,
    )


def parse_rows(rows: Iterable[tuple[int, Any]], *, where: str, durations: Mapping[str, float] | None = None) -> list[PreferenceRecord]:
    """Validate numbered rows; any bad row rejects them all.

    Raises
    ------
    PreferenceDataError
        ``{where}: line N: {problem}`` for the first bad row.
    """
    out = []
    for line_no, row in rows:
        try:
            out.append(record_from_dict(row, durations=durations))
        except ValueError as exc:
            raise PreferenceDataError(f"{where}: line {line_no}: {exc}; nothing from this file was imported") from None
    return out


def read_jsonl(path: str | Path, *, durations: Mapping[str, float] | None = None) -> list[PreferenceRecord]:
    """Read and validate a JSONL file of records (blank lines are skipped)."""
    p = Path(path)
    if not p.is_file():
        raise PreferenceDataError(f"preference file {str(p)!r} does not exist")
    rows = []
    with open(p, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                rows.append((n, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise PreferenceDataError(f"{p.name}: line {n}: not valid JSON ({exc.msg}); nothing from this file was imported") from None
    return parse_rows(rows, where=p.name, durations=durations)


def write_jsonl(path: str | Path, records: Sequence[PreferenceRecord]) -> Path:
    """Write records as JSONL (atomically)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r.to_dict()) + "\n")
    os.replace(tmp, p)
    return p


def write_parquet(path: str | Path, records: Sequence[PreferenceRecord]) -> Path:
    """Write records as Parquet: one row per record, candidates' EDLs as JSON strings."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols: dict[str, list] = {k: [] for k in ("pair_id", "song_id", "a_candidate_id", "a_edl", "b_candidate_id", "b_edl", "preference", "strength", "rater_id", "notes",
                                             "source", "target_seconds", "mood_preference")}
    for r in records:
        for k, v in (("pair_id", r.pair_id), ("song_id", r.song_id), ("a_candidate_id", r.a.candidate_id), ("a_edl", json.dumps(r.a.edl)),
                     ("b_candidate_id", r.b.candidate_id), ("b_edl", json.dumps(r.b.edl)), ("preference", r.preference), ("strength", r.strength),
                     ("rater_id", r.rater_id), ("notes", r.notes), ("source", r.source), ("target_seconds", r.target_seconds), ("mood_preference", r.mood_preference)):
            cols[k].append(v)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp")
    types = {"target_seconds": pa.float64(), "mood_preference": pa.string()}
    table = pa.table({k: pa.array(v, type=types.get(k)) for k, v in cols.items()}) if records else pa.table({k: pa.array([], type=pa.string()) for k in cols})
    pq.write_table(table, tmp)
    os.replace(tmp, p)
    return p


def read_parquet(path: str | Path, *, durations: Mapping[str, float] | None = None) -> list[PreferenceRecord]:
    """Read and validate a Parquet file written by :func:`write_parquet` (row numbers from 1)."""
    import pyarrow.parquet as pq

    p = Path(path)
    if not p.is_file():
        raise PreferenceDataError(f"preference file {str(p)!r} does not exist")
    try:
        rows = pq.read_table(p).to_pylist()
    except Exception as exc:  # pyarrow raises several types for a bad file
        raise PreferenceDataError(f"{p.name}: not a readable Parquet file ({exc.__class__.__name__})") from None
    numbered = []
    for n, row in enumerate(rows, start=1):
        try:
            a_edl, b_edl = json.loads(row.get("a_edl") or "null"), json.loads(row.get("b_edl") or "null")
        except (json.JSONDecodeError, TypeError):
            raise PreferenceDataError(f"{p.name}: line {n}: a_edl/b_edl is not valid JSON; nothing from this file was imported") from None
        target = row.get("target_seconds")
        d = {**{k: v for k, v in row.items() if k not in ("a_candidate_id", "a_edl", "b_candidate_id", "b_edl", "target_seconds")},
             "a": {"candidate_id": row.get("a_candidate_id"), "edl": a_edl}, "b": {"candidate_id": row.get("b_candidate_id"), "edl": b_edl}}
        if target is not None and target == target:  # NaN/None → absent
            d["target_seconds"] = target
        numbered.append((n, d))
    return parse_rows(numbered, where=p.name, durations=durations)


def read_preferences(path: str | Path, *, durations: Mapping[str, float] | None = None) -> list[PreferenceRecord]:
    """Read a ``.jsonl`` or ``.parquet`` preference file (by extension)."""
    p = Path(path)
    if p.suffix.lower() == ".parquet":
        return read_parquet(p, durations=durations)
    if p.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        return read_jsonl(p, durations=durations)
    raise PreferenceDataError(f"{p.name}: unknown preference file type {p.suffix!r}; use .jsonl or .parquet")
