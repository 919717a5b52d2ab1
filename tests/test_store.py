"""The preference store on both backends (SQLite WAL file, PostgreSQL by URL): migrations,
idempotent submits, export, stats, active learning."""

import json
import sqlite3
import uuid

import pytest

from editor_rl.errors import ConflictError, StoreError
from editor_rl.preferences.records import read_preferences
from editor_rl.preferences.store import SCHEMA_VERSION, CandidateRow, PairRow, PreferenceStore

EDL = {"source": "s.wav", "sample_rate": 44100, "duration_s": 4.0, "segments": [{"src_start_s": 0.0, "src_end_s": 2.0, "out_start_s": 0.0},
                                                                                 {"src_start_s": 4.0, "src_end_s": 6.0, "out_start_s": 2.0}], "actions": []}


@pytest.fixture(params=["sqlite", "postgres"])
def location(request, tmp_path):
    """A fresh database: a SQLite file, or a new database on the session's PostgreSQL server."""
    if request.param == "sqlite":
        return str(tmp_path / "p.sqlite")
    import psycopg

    base = request.getfixturevalue("postgres_url")
    name = "t" + uuid.uuid4().hex[:12]
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return base.rsplit("/", 1)[0] + "/" + name


def _filled(location, n_pairs=4) -> PreferenceStore:
    st = PreferenceStore(location)
    for i in range(n_pairs + 1):
        st.add_candidate(CandidateRow(f"c{i}", "song", 4.0, EDL, None, "policy", 0.5, float(i), 0.1))
    for i in range(n_pairs):
        st.add_pair(PairRow(f"p{i}", "song", f"c{i}", f"c{i + 1}", 4.0, 0.3 if i % 2 else 0.7, 0.2 * i))
    return st


def test_wal_mode_schema_version_and_integrity(tmp_path):
    st = _filled(str(tmp_path / "p.sqlite"))
    conn = sqlite3.connect(tmp_path / "p.sqlite")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert st.schema_version == SCHEMA_VERSION == conn.execute("SELECT version FROM editor_rl_schema").fetchone()[0]
    assert st.integrity_check() == "ok"
    conn.execute("UPDATE editor_rl_schema SET version = version + 1")
    conn.commit()
    with pytest.raises(StoreError, match="newer"):
        PreferenceStore(tmp_path / "p.sqlite")


def test_postgres_backend_migrates_and_reopens(location):
    st = _filled(location)
    st.submit(pair_id="p0", rater_id="r", preference="a", strength=1, idempotency_key="k")
    st.close()
    again = PreferenceStore(location)  # the migrations do not run twice
    assert again.schema_version == SCHEMA_VERSION and again.backend == ("postgres" if location.startswith("postgresql") else "sqlite")
    assert len(again.records()) == 1 and again.integrity_check() == "ok"


def test_unreachable_postgres_is_a_clear_error():
    with pytest.raises(StoreError, match="127.0.0.1:1"):
        PreferenceStore("postgresql://nobody@127.0.0.1:1/none")


def test_not_a_database_is_a_clear_error(tmp_path):
    (tmp_path / "junk.sqlite").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="junk.sqlite"):
        PreferenceStore(tmp_path / "junk.sqlite")


def test_one_judgement_per_pair_and_rater_replays_return_it_conflicts_answer_409(location, tmp_path):
    st = _filled(location)
    first = st.submit(pair_id="p0", rater_id="r1", preference="a", strength=2, idempotency_key="k1")
    again = st.submit(pair_id="p0", rater_id="r1", preference="a", strength=2, idempotency_key="k1")  # a retry
    double = st.submit(pair_id="p0", rater_id="r1", preference="a", strength=2, idempotency_key="k2")  # a double click
    assert first.created and not again.created and not double.created and again.id == double.id == first.id
    with pytest.raises(ConflictError, match="this key"):
        st.submit(pair_id="p0", rater_id="r1", preference="b", strength=3, idempotency_key="k1")
    with pytest.raises(ConflictError, match="rater_id 'r1' for pair_id 'p0'"):
        st.submit(pair_id="p0", rater_id="r1", preference="b", strength=1, idempotency_key="k3")
    assert st.submit(pair_id="p0", rater_id="r2", preference="b", strength=1).created  # another rater may judge it
    st.close()
    recs = PreferenceStore(location).records()
    assert [(r.rater_id, r.preference, r.strength) for r in recs] == [("r1", "a", 2), ("r2", "b", 1)]


def test_judgements_keep_the_edls_they_were_made_on(location, tmp_path):
    st = _filled(location)
    st.submit(pair_id="p0", rater_id="r1", preference="a", strength=1)
    before = st.export(tmp_path / "before.jsonl").read_bytes()
    other = dict(EDL, segments=[{"src_start_s": 1.0, "src_end_s": 3.0, "out_start_s": 0.0}])
    st.add_candidate(CandidateRow("c0", "song", 4.0, other, None, "policy", 0.5, 9.0, 0.3))  # the same id again: content kept, score refreshed
    assert st.candidate("c0").edl == EDL and st.candidate("c0").reward == 9.0
    st.add_candidate(CandidateRow("c9", "song", 4.0, other, None, "policy", 0.5, 1.0, 0.1, "policy@new"))  # a new round's candidates
    st.add_pair(PairRow("p9", "song", "c9", "c1", 4.0, 0.5, 1.0))
    assert st.retire_pairs(keep={"p9"}) == 4 and [p.pair_id for p in st.next_pairs(rater_id="r3", n=10)] == ["p9"]
    assert st.export(tmp_path / "after.jsonl").read_bytes() == before  # an export of old judgements means what it meant


def test_a_version_1_database_migrates_keeping_every_judgement(tmp_path):
    from editor_rl.preferences.store import MIGRATIONS

    path = tmp_path / "v1.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0].format(real="REAL", serial="INTEGER PRIMARY KEY AUTOINCREMENT") + ";CREATE TABLE editor_rl_schema (version INTEGER NOT NULL);"
                       "INSERT INTO editor_rl_schema VALUES (1);")
    conn.execute("INSERT INTO candidates VALUES ('a', 'song', 4.0, ?, NULL, 'policy', 0.5, 1.0, 0.1, 0)", (json.dumps(EDL),))
    conn.execute("INSERT INTO candidates VALUES ('b', 'song', 4.0, ?, NULL, 'search', NULL, 0.0, 0.1, 0)", (json.dumps(EDL),))
    conn.execute("INSERT INTO pairs VALUES ('p', 'song', 'a', 'b', 4.0, 0.7, 0.6, 0)")
    for i, pref in enumerate("aba"):  # one rater judged the pair three times (a double click, a change of mind)
        conn.execute("INSERT INTO judgements (idempotency_key, pair_id, rater_id, preference, strength, notes, created) VALUES (?, 'p', 'r', ?, 1, '', ?)", (f"k{i}", pref, i))
    conn.commit()
    conn.close()
    st = PreferenceStore(path)
    assert st.schema_version == SCHEMA_VERSION
    recs = st.records()
    assert [(r.preference, r.a.candidate_id, r.a.edl) for r in recs] == [("a", "a", EDL)]  # the first stays, with what was shown
    assert st._rows("SELECT COUNT(*) FROM judgements_superseded")[0][0] == 2  # the later two are kept aside, not lost
    with pytest.raises(ConflictError):
        st.submit(pair_id="p", rater_id="r", preference="b", strength=1)


def test_a_password_never_appears_in_errors_or_repr():
    from editor_rl.preferences.store import redact

    url = "postgresql://editor:s3cret-pw@127.0.0.1:1/none"
    assert redact(url) == "postgresql://editor:***@127.0.0.1:1/none" and redact("runs/x.sqlite") == "runs/x.sqlite"
    with pytest.raises(StoreError) as info:
        PreferenceStore(url)
    assert "s3cret" not in str(info.value) and "127.0.0.1:1" in str(info.value)
    unopened = PreferenceStore.__new__(PreferenceStore)
    unopened.location = url
    assert "s3cret" not in repr(unopened) and "editor:***@" in repr(unopened)


def test_bad_judgements_name_the_value(location, tmp_path):
    st = _filled(location)
    with pytest.raises(StoreError, match="'c'"):
        st.submit(pair_id="p0", rater_id="r", preference="c", strength=1)
    with pytest.raises(StoreError, match="strength=9"):
        st.submit(pair_id="p0", rater_id="r", preference="a", strength=9)
    with pytest.raises(KeyError):
        st.submit(pair_id="nope", rater_id="r", preference="a", strength=1)
    with pytest.raises(StoreError, match="quality=6"):
        st.rate(candidate_id="c0", rater_id="r", quality=6, overall=3)
    with pytest.raises(StoreError, match="unknown candidate"):
        st.add_pair(PairRow("px", "song", "c0", "ghost", 4.0, None, 0.5))
    assert st.stats()["judgements"] == 0 and st.stats()["ratings"] == 0


def test_next_pairs_most_uncertain_first_and_never_repeated(location, tmp_path):
    st = _filled(location)
    assert [p.pair_id for p in st.next_pairs(rater_id="r1", n=10)] == ["p3", "p2", "p1", "p0"]
    st.submit(pair_id="p3", rater_id="r1", preference="a", strength=1)
    assert "p3" not in [p.pair_id for p in st.next_pairs(rater_id="r1", n=10)]
    assert st.next_pairs(rater_id="r2", n=1)[0].pair_id == "p3"  # another rater still gets it


def test_export_round_trips_and_stats(location, tmp_path):
    st = _filled(location)
    st.submit(pair_id="p0", rater_id="r1", preference="a", strength=1)  # model favours a (0.7): agrees
    st.submit(pair_id="p0", rater_id="r2", preference="b", strength=2)  # disagrees with model and with r1
    st.submit(pair_id="p1", rater_id="r1", preference="b", strength=3)  # model favours b (0.3): agrees
    st.submit(pair_id="p2", rater_id="r1", preference="tie", strength=1, mood_preference="b")  # which fits the mood asked for
    with pytest.raises(StoreError, match="mood_preference='c'"):
        st.submit(pair_id="p2", rater_id="r2", preference="a", strength=1, mood_preference="c")
    with pytest.raises(ConflictError):
        st.submit(pair_id="p2", rater_id="r1", preference="tie", strength=1, mood_preference="a")  # another mood answer is another body
    st.rate(candidate_id="c1", rater_id="r1", feel=3, quality=4, overall=5)
    for fmt in ("jsonl", "parquet"):
        recs = read_preferences(st.export(tmp_path / f"out.{fmt}", format=fmt), durations={"song": 10.0})
        assert [(r.pair_id.split("#")[0], r.rater_id, r.preference, r.strength, r.mood_preference) for r in recs] == [
            ("p0", "r1", "a", 1, None), ("p0", "r2", "b", 2, None), ("p1", "r1", "b", 3, None), ("p2", "r1", "tie", 1, "b")]
        assert recs[0].a.edl["segments"] == EDL["segments"] and recs[0].target_seconds == 4.0
    s = st.stats()
    assert s["judgements"] == 4 and s["ratings"] == 1 and s["per_rater"] == {"r1": 3, "r2": 1} and s["balance"] == {"a": 1, "b": 2, "tie": 1}
    assert s["human_model_agreement"] == pytest.approx(2 / 3) and s["inter_rater_agreement"] == 0.0
    with pytest.raises(StoreError, match="csv"):
        st.export(tmp_path / "x.csv", format="csv")


WRITER = """
import sys
from editor_rl.preferences.store import PreferenceStore
st = PreferenceStore(sys.argv[1])
for i in range(100000):
    key = f"k{i}"
    st.submit(pair_id=f"p{i % 4}", rater_id=f"r{i}", preference="ab"[i % 2], strength=1 + i % 3, idempotency_key=key)
    print(key, flush=True)  # acknowledged: the commit returned
"""


def test_sigkill_mid_writes_loses_no_acknowledged_judgement(location):
    """A writer SIGKILLed mid-load (on either backend): every judgement it saw committed is there once."""
    import subprocess
    import sys
    import time

    _filled(location).close()
    proc = subprocess.Popen([sys.executable, "-c", WRITER, location], stdout=subprocess.PIPE, text=True)
    acked, deadline = [], time.time() + 120
    while len(acked) < 200 and time.time() < deadline:
        line = proc.stdout.readline()
        assert line, "the writer stopped before it was killed"
        acked.append(line.strip())
    proc.kill()
    proc.wait(timeout=30)
    assert len(acked) >= 200
    store = PreferenceStore(location)
    keys = [r[0] for r in store._rows("SELECT idempotency_key FROM judgements")]
    assert len(keys) == len(set(keys)) and set(acked) <= set(keys)
    assert store.integrity_check() == "ok"
