"""Preference records: round trips, and malformed rows rejected with their line number."""

import json

import pytest

from editor_rl.errors import PreferenceDataError
from editor_rl.preferences.records import read_jsonl, read_parquet, read_preferences, write_jsonl, write_parquet


@pytest.fixture
def records(synthetic_pairs):
    return synthetic_pairs[:12]


def test_jsonl_and_parquet_round_trip(records, tmp_path):
    assert read_jsonl(write_jsonl(tmp_path / "p.jsonl", records)) == records
    assert read_parquet(write_parquet(tmp_path / "p.parquet", records)) == records
    assert read_preferences(tmp_path / "p.parquet") == records


def test_record_shape_matches_the_contract(records):
    d = records[0].to_dict()
    assert set(d) == {"pair_id", "song_id", "a", "b", "preference", "strength", "rater_id", "notes", "source", "target_seconds"}
    assert set(d["a"]) == {"candidate_id", "edl"} and d["source"] == "synthetic"


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda r: r.update(preference="c"), "preference='c' must be one of"),
        (lambda r: r.update(strength=9), "strength=9 must be 1, 2 or 3"),
        (lambda r: r.update(strength="2"), "strength='2'"),
        (lambda r: r.pop("rater_id"), "missing field 'rater_id'"),
        (lambda r: r.update(source="robot"), "source='robot'"),
        (lambda r: r["a"]["edl"]["segments"][0].update(src_end_s=9999.0), "past the end of the song"),
        (lambda r: r.update(song_id="unknown_song"), "song_id='unknown_song' is not in the songs folder"),
        (lambda r: r["b"].pop("edl"), "b.edl must be an EDL object"),
        (lambda r: r.update(mood_preference="x"), "mood_preference='x'"),
    ],
)
def test_malformed_row_rejects_the_whole_file_naming_its_line(records, analyses, tmp_path, mutate, message):
    rows = [r.to_dict() for r in records]
    mutate(rows[6])
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    durations = {a.song_id: a.duration_s for a in analyses}
    with pytest.raises(PreferenceDataError, match=r"bad\.jsonl: line 7: .*" + message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        read_jsonl(path, durations=durations)


def test_bad_json_line_and_unknown_extension(tmp_path, records):
    path = tmp_path / "p.jsonl"
    write_jsonl(path, records)
    path.write_text(path.read_text() + "{not json\n")
    with pytest.raises(PreferenceDataError, match=r"line 13: not valid JSON"):
        read_jsonl(path)
    with pytest.raises(PreferenceDataError, match="unknown preference file type"):
        read_preferences(tmp_path / "p.csv")
