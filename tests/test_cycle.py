"""The RLHF cycle with people, end to end on the session's Ray and real Serve over HTTP: a rater with a
token of their own judges through the API, `editor-rl cycle` makes v002 and opens its verification
round, the listener's verification judgements promote it and the running service follows without a
failed request; a personal version is verified by its rater alone and then serves them; a listener
whose judgements are noise promotes nothing; bad input exits 2 or answers 4xx and changes nothing."""

import json
import shutil
import threading
import time

import pytest
import requests

from editor_rl.apps.cli import main
from editor_rl.config import Config
from editor_rl.edit.plan import EditPlan
from editor_rl.raters.rater import SimulatedRater

from test_serving import free_port

SMALL = ["cycle.expert_targets=3", "cycle.expert_epochs=3", "eval.target_ratios=[0.5]", "pick.samples=2", "pick.section_plans=2", "cycle.candidates_per_song=2",
         "cycle.verify_fraction=0.4", "cycle.verify_min_judgements=6", "cycle.verify_max_judgements=18"]
"""Two of the five songs verify each version (at cycle.verify_ratios' 17 targets each); 6 judgements can settle a round."""
PPO = ["cycle.policy_update=ppo", "cycle.ppo_iterations=2", "rl.train_batch_size=300", "rl.minibatch_size=100", "rl.num_epochs=1",
       "rl.env_runner_cpus=0.5", "pool.num_cpus=0.25"]
"""The cycle's other policy update: a little PPO against the new reward model (RLlib on the session's Ray)."""


@pytest.fixture(scope="module")
def service(ray_session, tmp_path_factory, synth_corpus, analyses, tiny_checkpoint):
    from ray import serve

    from editor_rl.rl.bc import train_bc
    from editor_rl.serving.deployments import ServeSettings
    from editor_rl.serving.run import start

    root = tmp_path_factory.mktemp("cycle")
    songs = root / "songs"
    songs.mkdir()
    for p in synth_corpus[:5]:
        shutil.copy(p, songs / p.name)
        shutil.copy(p.with_suffix(".truth.json"), songs / p.with_suffix(".truth.json").name)
    from editor_rl.config import load_config

    cfg = load_config(overrides=["pick.samples=2", "pick.section_plans=2"])
    policy = train_bc({a.song_id: a for a in analyses[:5]}, config=cfg, out_dir=root / "policy", edits_per_song=2, epochs=3, log=lambda m: None)
    port = free_port()
    settings = ServeSettings(checkpoint=policy["checkpoint"], data_dir=str(root / "data"), songs_dir=str(songs), reward=str(tiny_checkpoint), config=cfg)
    lines: list[str] = []
    start(settings, port=port, per_song=3, temperatures=(0.5, 1.0), log=lines.append)  # 5 songs × up to 8 candidates: up to 140 pairs
    yield {"url": f"http://127.0.0.1:{port}", "data": root / "data", "songs": songs, "admin": (root / "data" / "token").read_text().strip(),
           "analyses": {a.song_id: a for a in analyses[:5]}, "lines": lines}
    serve.shutdown()


def _rater_token(service, name: str, capsys) -> str:
    assert main(["raters", "add", name, "--data", str(service["data"])]) == 0
    token = capsys.readouterr().out.strip()
    assert len(token) >= 40 and "\n" not in token
    return token


def _judge(service, rater: SimulatedRater, token: str, n: int, *, verify=None) -> list[dict]:
    """The rater judges up to ``n`` pairs the service offers it; a verification pair is judged by
    ``verify(pair, store)`` ('a' / 'b' / 'tie': which side the listener hears as better), any other by
    the rater's taste. Returns the answers to the submits."""
    from editor_rl.rlhf.datadir import store_location
    from editor_rl.preferences.store import PreferenceStore

    url, answers = service["url"], []
    store = PreferenceStore(store_location(service["data"]))
    while len(answers) < n:
        batch = requests.get(url + "/api/feedback/samples", params={"rater_id": rater.rater_id, "n": 10}, timeout=30).json()
        if not batch:
            break
        for s in batch[: n - len(answers)]:
            a = service["analyses"][s["song_id"]] if s["song_id"] in service["analyses"] else None
            if s["pair_id"].startswith("verify-"):
                assert verify is not None, s["pair_id"]
                j = (verify(s, store), 1)
            else:
                j = rater.judge(a, *(EditPlan.from_edl(s[k]["edl"], source_duration_s=a.duration_s) for k in ("a", "b")), target_seconds=s["target_seconds"])
            r = requests.post(url + "/api/feedback/submit", headers={"Authorization": f"Bearer {token}"}, timeout=30,
                              json={"pair_id": s["pair_id"], "preference": j[0], "strength": j[1]})  # the rater comes from the token
            assert r.status_code == 200, r.text
            answers.append(r.json() | {"pair_id": s["pair_id"]})
    return answers


def _prefers(version: str):
    """A listener who hears ``version``'s edit as the better one (which side it is: the store knows)."""
    return lambda s, store: "a" if store.candidate(s["a"]["candidate_id"]).model == version else "b"


def _status(service, version: str) -> dict:
    return next(v for v in requests.get(service["url"] + "/api/models", timeout=10).json()["versions"] if v["name"] == version)


def test_a_cycle_opens_a_verification_round_and_the_listener_promotes_v002(service, capsys, tmp_path):
    url, admin = service["url"], {"Authorization": f"Bearer {service['admin']}"}
    assert any("model version v001" in x for x in service["lines"])
    assert requests.get(url + "/api/models", timeout=10).json()["current"] == "v001"
    token = _rater_token(service, "listener", capsys)
    listener = SimulatedRater("keeps_ending", seed=3, rater_id="listener")  # a taste the pretraining mixture does not have
    assert "keeps_ending" not in Config().rater.pretrain_tastes
    other = requests.post(url + "/api/feedback/submit", headers={"Authorization": f"Bearer {token}"}, timeout=10,
                          json={"pair_id": "whatever", "preference": "a", "strength": 1, "rater_id": "someone-else"})
    assert other.status_code == 403 and "someone-else" in other.json()["detail"]
    assert len(_judge(service, listener, token, 60)) == 60
    stats = requests.get(url + "/api/feedback/stats", timeout=10).json()
    assert stats["per_rater"]["listener"] == 60 and "listener" in stats["per_rater_model_agreement"]
    before = requests.get(url + "/api/feedback/export", headers=admin, timeout=30).content
    a = next(iter(service["analyses"].values()))
    body = {"song_id": a.song_id, "target_seconds": round(0.5 * a.duration_s, 1)}
    answers, stop = [], threading.Event()

    def keep_editing() -> None:  # a client editing all through the cycle, the verification and the swap
        with requests.Session() as s:
            while not stop.is_set():
                try:
                    r = s.post(url + "/api/edit", json=body, headers=admin, timeout=300)
                    answers.append((r.status_code, r.json().get("model_version") if r.status_code == 200 else r.text))
                except requests.RequestException as e:  # a timeout or a dropped connection is a failed request
                    answers.append((None, repr(e)))

    client = threading.Thread(target=keep_editing)
    client.start()
    try:
        code = main(["cycle", "--data", str(service["data"]), "--min-labels", "50"] + [x for o in SMALL for x in ("--set", o)])
        out = capsys.readouterr().out
        assert code == 0, out[-3000:]
        assert "v002: pending" in out and "expert iteration" in out
        pending = _status(service, "v002")
        assert pending["status"] == "pending" and pending["verdict"]["judgements"] == 0 and pending["verdict"]["pairs"] >= 6
        assert requests.get(url + "/api/models", timeout=10).json()["current"] == "v001"  # not served before its listeners say so
        assert requests.post(url + "/api/edit", json=body, headers=admin, timeout=120).json()["model_version"] == "v001"
        mixed = requests.get(url + "/api/feedback/samples", params={"rater_id": "listener", "n": 10}, timeout=10).json()
        assert sum(s["pair_id"].startswith("verify-") for s in mixed) == 5  # every other pair verifies v002
        verified = [x for x in _judge(service, listener, token, 40, verify=_prefers("v002")) if x.get("version")]
        assert verified and all(x["version"] == "v002" for x in verified)
        assert [x["verdict"] for x in verified][-1] == "promoted" and len(verified) >= 6
        deadline = time.time() + 60
        while time.time() < deadline and not any(v == "v002" for _, v in answers):
            time.sleep(0.5)
    finally:
        stop.set()
        client.join(timeout=180)
    assert [c for c, _ in answers if c != 200] == [], answers[:5]  # no request failed during the swap
    versions = [v for _, v in answers]
    assert versions[0] == "v001" and "v002" in versions and versions.index("v002") > 0
    assert "v001" not in versions[versions.index("v002"):]  # once served, v002 stays
    models = requests.get(url + "/api/models", timeout=10).json()
    assert models["current"] == "v002" and [v["name"] for v in models["versions"]] == ["v001", "v002"]
    assert [v["status"] for v in models["versions"]] == ["superseded", "served"] and models["versions"][1]["verdict"]["status"] == "promoted"
    assert requests.post(url + "/api/edit", json=body, headers=admin, timeout=120).json()["model_version"] == "v002"
    report = service["data"] / "models" / "v002"
    assert (report / "report.md").is_file() and (report / "report.png").is_file() and (report / "policy").is_dir() and (report / "reward.pt").is_file()
    result = json.loads((report / "report.json").read_text())
    assert result["labels"] >= 60 and result["reward"]["heldout_judgements"] > 0 and result["verification"]["status"] == "pending"
    after = requests.get(url + "/api/feedback/export", headers=admin, timeout=30).content
    assert after.startswith(before) and len(after.splitlines()) == 100  # old judgements mean what they meant; the new ones follow
    fresh = [s for s in requests.get(url + "/api/feedback/samples", params={"rater_id": "listener", "n": 50}, timeout=10).json()]
    nxt = _manifest(service, "v002")
    assert fresh and not any(s["pair_id"].startswith("verify-") for s in fresh)  # the round is settled: its pairs are retired
    assert all(s["a"]["candidate_id"] in {c["candidate_id"] for c in nxt} for s in fresh)  # the next round's pairs
    first, ratio = Config().cycle.target_ratios[:2]
    assert ratio != first and all(c["target_seconds"] == round(ratio * service["analyses"][c["song_id"]].duration_s, 2) for c in nxt)  # another length
    assert {"policy", "search", "plain_cut", "section", "window", "one_cut"} <= {c["source"] for c in nxt}  # every kind best of N serves


def _manifest(service, version: str) -> list[dict]:
    return json.loads((service["data"] / "candidates" / version / "evaluation_manifest.json").read_text())["candidates"]


def test_bad_cycles_exit_2_and_the_service_keeps_serving(service, capsys):
    data = service["data"]
    url = service["url"]
    served = requests.get(url + "/api/models", timeout=10).json()["current"]
    assert main(["cycle", "--data", str(data), "--min-labels", "500"] + [x for o in SMALL for x in ("--set", o)]) == 2  # too few new labels
    assert "new judgements" in capsys.readouterr().err
    assert main(["cycle", "--data", str(data), "--rater", "nobody"]) == 2
    assert "'nobody'" in capsys.readouterr().err
    info = json.loads((data / "service.json").read_text())
    (data / "service.json").write_text(json.dumps(info | {"store": "postgresql://editor:secret-pw@127.0.0.1:1/none"}))
    try:
        assert main(["cycle", "--data", str(data)]) == 2
        err = capsys.readouterr().err
        assert "127.0.0.1:1" in err and "secret-pw" not in err
    finally:
        (data / "service.json").write_text(json.dumps(info))
    reward = data / "models" / served / "reward.pt"
    saved = reward.read_bytes()
    reward.write_bytes(b"not a checkpoint")
    try:
        assert main(["cycle", "--data", str(data)]) == 2
        assert f"model version {served}" in capsys.readouterr().err
    finally:
        reward.write_bytes(saved)
    assert requests.get(url + "/api/models", timeout=10).json()["current"] == served  # nothing was promoted
    a = next(iter(service["analyses"].values()))
    r = requests.post(url + "/api/edit", json={"song_id": a.song_id, "target_seconds": 10}, headers={"Authorization": f"Bearer {service['admin']}"}, timeout=120)
    assert r.status_code == 200 and r.json()["model_version"] == served


def test_a_personal_version_is_verified_by_its_rater_and_then_serves_them(service, capsys):
    url = service["url"]
    token = _rater_token(service, "solo", capsys)
    assert len(_judge(service, SimulatedRater("energy_arc", seed=5, rater_id="solo"), token, 40)) == 40
    code = main(["cycle", "--data", str(service["data"]), "--rater", "solo", "--min-labels", "30"] + [x for o in SMALL for x in ("--set", o)])
    out = capsys.readouterr().out
    assert code == 0, out[-2000:]
    models = requests.get(url + "/api/models", timeout=10).json()
    mine_v = models["versions"][-1]["name"]
    assert models["versions"][-1]["status"] == "pending" and "solo" not in models["personal"]
    # Another rater may not judge solo's verification pairs: 403, and nothing changes.
    listener = requests.get(url + "/api/feedback/samples", params={"rater_id": "listener", "n": 50}, timeout=10).json()
    assert not any(s["pair_id"].startswith(f"verify-{mine_v}") for s in listener)
    theirs = next(s for s in requests.get(url + "/api/feedback/samples", params={"rater_id": "solo", "n": 10}, timeout=10).json() if s["pair_id"].startswith("verify-"))
    intruder = _rater_token(service, "intruder", capsys)
    r = requests.post(url + "/api/feedback/submit", headers={"Authorization": f"Bearer {intruder}"}, timeout=10,
                      json={"pair_id": theirs["pair_id"], "preference": "a", "strength": 3})
    assert r.status_code == 403 and "solo" in r.json()["detail"]
    assert _status(service, mine_v)["verdict"]["judgements"] == 0 and requests.get(url + "/api/feedback/stats", timeout=10).json()["per_rater"].get("intruder") is None
    verified = [x for x in _judge(service, SimulatedRater("energy_arc", seed=5, rater_id="solo"), token, 30, verify=_prefers(mine_v)) if x.get("version")]
    assert verified[-1]["verdict"] == "promoted"
    models = requests.get(url + "/api/models", timeout=10).json()
    personal = models["personal"]["solo"]
    assert personal == mine_v != models["current"] and json.loads((service["data"] / "models" / personal / "model.json").read_text())["rater"] == "solo"
    a = next(iter(service["analyses"].values()))
    body = {"song_id": a.song_id, "target_seconds": round(0.5 * a.duration_s, 1)}
    mine = requests.post(url + "/api/edit", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=120).json()
    everyone = requests.post(url + "/api/edit", json=body, headers={"Authorization": f"Bearer {service['admin']}"}, timeout=120).json()
    assert mine["model_version"] == personal and everyone["model_version"] == models["current"]


def test_a_listener_whose_judgements_are_noise_promotes_nothing(service, capsys):
    url = service["url"]
    token = _rater_token(service, "noisy", capsys)
    rater = SimulatedRater("balanced", seed=9, rater_id="noisy")
    assert len(_judge(service, rater, token, 30)) == 30
    assert main(["cycle", "--data", str(service["data"]), "--rater", "noisy", "--min-labels", "30"] + [x for o in SMALL + PPO for x in ("--set", o)]) == 0
    assert "PPO iterations" in capsys.readouterr().out  # this version's policy was fine-tuned by PPO
    version = requests.get(url + "/api/models", timeout=10).json()["versions"][-1]["name"]
    flips = iter(range(10**6))

    def noise(s, store):  # no preference at all: the new version's side and the old one's, in turn
        new = "a" if store.candidate(s["a"]["candidate_id"]).model == version else "b"
        return new if next(flips) % 2 == 0 else {"a": "b", "b": "a"}[new]

    judged: list[dict] = []
    deadline = time.time() + 60
    while not any(x.get("version") == version for x in judged) and time.time() < deadline:  # one verification judgement: too few to decide
        judged += _judge(service, rater, token, 1, verify=noise)
    assert any(x.get("version") == version for x in judged), judged
    assert _status(service, version)["status"] == "pending"
    assert main(["cycle", "--data", str(service["data"]), "--rater", "noisy"] + [x for o in SMALL for x in ("--set", o)]) == 0
    assert f"{version}: awaiting verification" in capsys.readouterr().out  # a cycle run again reports the round, starts nothing
    assert requests.get(url + "/api/models", timeout=10).json()["versions"][-1]["name"] == version
    deadline = time.time() + 120
    while _status(service, version)["status"] == "pending" and time.time() < deadline:
        assert _judge(service, rater, token, 10, verify=noise), "no pair left while the round is pending"
    status = _status(service, version)
    assert status["status"] == "retired" and abs(status["verdict"]["win_rate"] - 0.5) <= 0.5 / status["verdict"]["judgements"], status
    models = requests.get(url + "/api/models", timeout=10).json()
    assert "noisy" not in models["personal"] and models["current"] == "v002"
    a = next(iter(service["analyses"].values()))
    r = requests.post(url + "/api/edit", json={"song_id": a.song_id, "target_seconds": round(0.5 * a.duration_s, 1)},
                      headers={"Authorization": f"Bearer {token}"}, timeout=120)
    assert r.json()["model_version"] == "v002"  # everyone's version still serves the noisy listener
