import json

import numpy as np
import pytest

from editor_rl.edit.plan import EditPlan, Segment
from editor_rl.errors import InvalidEditError

STARTS = np.arange(16) * 0.5
ENDS = STARTS + 0.5


def plan(order, **kw):
    return EditPlan.from_beat_order(source="s.wav", sample_rate=44100, source_duration_s=8.0, beat_starts_s=STARTS, beat_ends_s=ENDS, beat_order=order, **kw)


def test_consecutive_beats_merge_into_segments():
    p = plan([0, 1, 2, 3, 8, 9, 9, 10])
    assert [(s.src_start_s, s.src_end_s) for s in p.segments] == [(0.0, 2.0), (4.0, 5.0), (4.5, 5.5)]
    assert [s.out_start_s for s in p.segments] == [0.0, 2.0, 3.0]
    assert p.duration_s == pytest.approx(4.0) and p.n_seams == 2


def test_edl_round_trip(tmp_path):
    p = plan([0, 1, 4, 5], actions=["KEEP", "CUT_TO_BAR", "KEEP", "END"], fade_out=True)
    path = p.save(tmp_path / "e.json")
    q = EditPlan.load(path, source_duration_s=8.0)
    assert q == p
    edl = json.loads(path.read_text())
    assert set(edl) >= {"source", "sample_rate", "duration_s", "segments", "actions"}
    assert edl["segments"][1] == {"src_start_s": 2.0, "src_end_s": 3.0, "out_start_s": 1.0}


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda e: e.pop("segments"), "missing field 'segments'"),
        (lambda e: e.update(segments=[]), "non-empty list"),
        (lambda e: e["segments"][0].update(src_end_s=-1), r"segments\[0\] is empty or reversed"),
        (lambda e: e["segments"][1].update(src_end_s=99.0), r"segments\[1\]\.src_end_s=99\.0 is past the end"),
        (lambda e: e["segments"][1].update(src_start_s="x"), r"segments\[1\]"),
        (lambda e: e.update(sample_rate=0), "sample_rate=0"),
        (lambda e: e["segments"][1].update(out_start_s=5.0), r"segments\[1\]\.out_start_s=5\.0"),
        (lambda e: e.update(actions="KEEP"), "'actions' must be a list"),
    ],
)
def test_bad_edl_is_rejected_naming_the_value(mutate, message, tmp_path):
    edl = plan([0, 1, 4, 5]).to_edl()
    mutate(edl)
    with pytest.raises(InvalidEditError, match=message):
        EditPlan.from_edl(edl, source_duration_s=8.0)


def test_bad_edl_files(tmp_path):
    with pytest.raises(InvalidEditError, match="does not exist"):
        EditPlan.load(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InvalidEditError, match=r"bad\.json: not valid JSON"):
        EditPlan.load(bad)


def test_bad_beat_orders():
    with pytest.raises(InvalidEditError, match="keeps no beats"):
        plan([])
    with pytest.raises(InvalidEditError, match="beat index 16 is outside the song's 16 beats"):
        plan([0, 16])


def test_segment_length():
    assert Segment(1.0, 2.5, 0.0).length_s == 1.5
