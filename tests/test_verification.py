"""The verification round's rule and its bookkeeping in the store (both backends) and the registry:
promote, retire, too few judgements, a listener whose judgements are noise."""

import numpy as np
import pytest

from editor_rl.preferences.store import PreferenceStore
from editor_rl.preferences.store_schema import CandidateRow, PairRow, Tally, VerificationRow
from editor_rl.rlhf.verification import Rule, decide, wilson

from test_store import EDL, location  # noqa: F401 (the store fixture of both backends)

RULE = Rule(min_judgements=20, min_win_rate=0.55, max_judgements=60, z=2.4)


def test_the_rule_promotes_retires_and_waits():
    assert decide(Tally(15, 15.0, True), RULE).status == "pending"  # too few, however clear
    assert decide(Tally(20, 17.0, True), RULE).status == "promoted"
    assert decide(Tally(20, 14.0, True), RULE).status == "pending"  # 0.70, but not yet surely above ½
    assert decide(Tally(20, 5.0, True), RULE).status == "retired"  # cannot reach 0.55
    assert decide(Tally(60, 33.0, True), RULE).status == "retired"  # undecided at the most a round takes
    assert decide(Tally(12, 9.0, False), RULE).status == "retired"  # no pair left, too few
    assert decide(Tally(0, 0.0, True), RULE).status == "pending" and decide(Tally(0, 0.0, False), RULE).status == "retired"
    ties = decide(Tally(30, 15.0, True), RULE)
    assert ties.win_rate == 0.5 and ties.status != "promoted"
    low, high = wilson(17, 20, 1.96)
    assert 0.6 < low < 0.85 < high < 0.97


def _rounds(p_win: float, *, rounds: int, seed: int) -> float:
    """Share of rounds a listener preferring the new version with probability ``p_win`` promotes, the
    round looked at after every judgement until decided."""
    rng = np.random.default_rng(seed)
    promoted = 0
    for _ in range(rounds):
        wins, n = 0.0, 0
        while True:
            n += 1
            wins += float(rng.random() < p_win)
            v = decide(Tally(n, wins, n < RULE.max_judgements), RULE)
            if v.status != "pending":
                promoted += v.status == "promoted"
                break
    return promoted / rounds


def test_noise_seldom_promotes_and_a_clear_preference_does():
    assert _rounds(0.5, rounds=1000, seed=0) < 0.05  # coin flips: the interval is wide enough for looking after every judgement
    assert _rounds(0.8, rounds=300, seed=1) > 0.95


def test_the_store_keeps_verification_pairs_apart(location):  # noqa: F811
    st = PreferenceStore(location)
    for i in range(6):
        st.add_candidate(CandidateRow(f"c{i}", "song", 4.0, EDL, None, "verify", None, None, None, "v002" if i % 2 else "v001"))
    st.add_pair(PairRow("learn", "song", "c0", "c2", 4.0, 0.5, 0.9))
    for k in range(2):  # the new version (odd candidates) on side b
        st.add_verification(PairRow(f"ver{k}", "song", f"c{2 * k}", f"c{2 * k + 1}", 4.0, None, 0.5),
                            VerificationRow(f"ver{k}", "v002", "v001", "b", None))
    st.add_verification(PairRow("mine", "song", "c4", "c5", 4.0, None, 0.5), VerificationRow("mine", "v003", "v001", "b", "solo"))
    assert [p.pair_id for p in st.next_pairs(rater_id="x", n=10)] == ["learn"]  # active learning offers no verification pair
    assert {p.pair_id for p in st.verification_pairs(rater_id="x", n=10)} == {"ver0", "ver1"}  # solo's own is solo's alone
    assert {p.pair_id for p in st.verification_pairs(rater_id="solo", n=10)} == {"ver0", "ver1", "mine"}
    assert st.verification("mine").rater_id == "solo" and st.verification("learn") is None
    assert st.retire_pairs(keep=set()) == 1  # a new round's candidates retire the old pairs, not the verification ones
    st.submit(pair_id="ver0", rater_id="x", preference="b", strength=2)
    st.submit(pair_id="ver1", rater_id="y", preference="tie", strength=1)
    st.submit(pair_id="mine", rater_id="x", preference="b", strength=1)  # not solo's: does not count for v003
    assert st.verification_tally("v002") == Tally(2, 1.5, False)
    assert st.verification_tally("v003") == Tally(0, 0.0, True)
    assert st.records() == [] and len(st.records(verification=True)) == 3  # they judge versions, they train nothing
    assert st.end_verification("v002") == 2 and st.verification_pairs(rater_id="z", n=10) == []
