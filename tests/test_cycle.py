"""The RLHF cycle with people, end to end on the session's Ray and real Serve over HTTP: a rater with a
token of their own judges through the API, `editor-rl cycle` promotes v002, the running service
follows without a failed request, a personal version serves its rater, bad input exits 2."""

import json
import shutil
import threading
import time

import pytest
import requests

from editor_rl.cli import main
from editor_rl.config import Config
from editor_rl.edit.plan import EditPlan
from editor_rl.preferences.rater import SimulatedRater

from test_serving import free_port

SMALL = ["cycle.ppo_iterations=2", "rl.train_batch_size=300", "rl.minibatch_size=100", "rl.num_epochs=1", "rl.env_runner_cpus=0.5",
         "pool.num_cpus=0.25", "eval.target_ratios=[0.5]", "pick.samples=2", "pick.section_plans=2", "cycle.candidates_per_song=2"]


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


def _judge(service, rater: SimulatedRater, token: str, n: int) -> int:
    url, done = service["url"], 0
    while done < n:
        batch = requests.get(url + "/api/feedback/samples", params={"rater_id": rater.rater_id, "n": 10}, timeout=30).json()
        if not batch:
            break
        for s in batch[: n - done]:
            a = service["analyses"][s["song_id"]]
            j = rater.judge(a, *(EditPlan.from_edl(s[k]["edl"], source_duration_s=a.duration_s) for k in ("a", "b")), target_seconds=s["target_seconds"])
            r = requests.post(url + "/api/feedback/submit", headers={"Authorization": f"Bearer {token}"}, timeout=30,
                              json={"pair_id": s["pair_id"], "preference": j.preference, "strength": j.strength})  # the rater comes from the token
            assert r.status_code == 200, r.text
            done += 1
    return done


def test_a_cycle_promotes_v002_and_the_service_follows_without_failing(service, capsys, tmp_path):
    url, admin = service["url"], {"Authorization": f"Bearer {service['admin']}"}
    assert any("model version v001" in x for x in service["lines"])
    assert requests.get(url + "/api/models", timeout=10).json()["current"] == "v001"
    token = _rater_token(service, "listener", capsys)
    listener = SimulatedRater("keeps_ending", seed=3, rater_id="listener")  # a taste the pretraining mixture does not have
    assert "keeps_ending" not in Config().rater.pretrain_tastes
    other = requests.post(url + "/api/feedback/submit", headers={"Authorization": f"Bearer {token}"}, timeout=10,
                          json={"pair_id": "whatever", "preference": "a", "strength": 1, "rater_id": "someone-else"})
    assert other.status_code == 403 and "someone-else" in other.json()["detail"]
    assert _judge(service, listener, token, 60) == 60
    stats = requests.get(url + "/api/feedback/stats", timeout=10).json()
    assert stats["per_rater"]["listener"] == 60 and "listener" in stats["per_rater_model_agreement"]
    before = requests.get(url + "/api/feedback/export", headers=admin, timeout=30).content
    a = next(iter(service["analyses"].values()))
    body = {"song_id": a.song_id, "target_seconds": round(0.5 * a.duration_s, 1)}
    answers, stop = [], threading.Event()

    def keep_editing() -> None:  # a client editing all through the cycle and the swap
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
        assert "v002: promoted" in out
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
    assert requests.post(url + "/api/edit", json=body, headers=admin, timeout=120).json()["model_version"] == "v002"
    report = service["data"] / "models" / "v002"
    assert (report / "report.md").is_file() and (report / "report.png").is_file() and (report / "policy").is_dir() and (report / "reward.pt").is_file()
    result = json.loads((report / "report.json").read_text())
    assert result["labels"] >= 60 and result["reward"]["heldout_judgements"] > 0 and result["gate"]["passed"]
    assert requests.get(url + "/api/feedback/export", headers=admin, timeout=30).content == before  # old judgements mean what they meant
    fresh = requests.get(url + "/api/feedback/samples", params={"rater_id": "listener", "n": 50}, timeout=10).json()
    nxt = _manifest(service, "v002")
    assert fresh and all(s["a"]["candidate_id"] in {c["candidate_id"] for c in nxt} for s in fresh)  # the next round's pairs
    first, ratio = Config().cycle.target_ratios[:2]
    assert ratio != first and all(c["target_seconds"] == round(ratio * service["analyses"][c["song_id"]].duration_s, 2) for c in nxt)  # another length
    assert {"policy", "search", "plain_cut", "section"} <= {c["source"] for c in nxt}  # choices unlike the policy's and the search's


def _manifest(service, version: str) -> list[dict]:
    return json.loads((service["data"] / "candidates" / version / "evaluation_manifest.json").read_text())["candidates"]


def test_bad_cycles_exit_2_and_the_service_keeps_serving(service, capsys):
    data = service["data"]
    url = service["url"]
    served = requests.get(url + "/api/models", timeout=10).json()["current"]
    assert main(["cycle", "--data", str(data)] + [x for o in SMALL for x in ("--set", o)]) == 2  # no new labels since the last cycle
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


def test_a_personal_version_serves_its_rater(service, capsys):
    url = service["url"]
    token = _rater_token(service, "solo", capsys)
    assert _judge(service, SimulatedRater("energy_arc", seed=5, rater_id="solo"), token, 40) == 40
    code = main(["cycle", "--data", str(service["data"]), "--rater", "solo", "--min-labels", "30"] + [x for o in SMALL for x in ("--set", o)])
    out = capsys.readouterr().out
    assert code == 0, out[-2000:]
    models = requests.get(url + "/api/models", timeout=10).json()
    personal = models["personal"]["solo"]
    assert personal != models["current"] and json.loads((service["data"] / "models" / personal / "model.json").read_text())["rater"] == "solo"
    a = next(iter(service["analyses"].values()))
    body = {"song_id": a.song_id, "target_seconds": round(0.5 * a.duration_s, 1)}
    mine = requests.post(url + "/api/edit", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=120).json()
    everyone = requests.post(url + "/api/edit", json=body, headers={"Authorization": f"Bearer {service['admin']}"}, timeout=120).json()
    assert mine["model_version"] == personal and everyone["model_version"] == models["current"]
