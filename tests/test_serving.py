"""The Serve app over real HTTP: edits, the feedback loop end to end, bad input, durability under SIGKILL."""

import json
import os
import shutil
import signal
import socket
import stat
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
import requests

from editor_rl.config import Config, RewardModelConfig, RewardTrainConfig
from editor_rl.edit.plan import EditPlan
from editor_rl.preferences.rater import SimulatedRater
from editor_rl.preferences.records import read_preferences
from editor_rl.preferences.store import PreferenceStore

from conftest import TINY_MODEL


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def service(ray_session, tmp_path_factory, synth_corpus, analyses, tiny_checkpoint):
    from ray import serve

    from editor_rl.rl.bc import train_bc
    from editor_rl.serving.deployments import ServeSettings
    from editor_rl.serving.run import start

    root = tmp_path_factory.mktemp("serve")
    songs = root / "songs"
    songs.mkdir()
    for p in synth_corpus[:3]:
        shutil.copy(p, songs / p.name)
        shutil.copy(p.with_suffix(".truth.json"), songs / p.with_suffix(".truth.json").name)
    cfg = Config()
    policy = train_bc({a.song_id: a for a in analyses[:3]}, config=cfg, out_dir=root / "policy", edits_per_song=2, epochs=2, log=lambda m: None)
    port = free_port()
    settings = ServeSettings(checkpoint=policy["checkpoint"], data_dir=str(root / "data"), songs_dir=str(songs), reward=str(tiny_checkpoint),
                             config=cfg, max_body_bytes=16 * 1024 * 1024)
    os.environ.pop("EDITOR_RL_TOKEN", None)
    lines: list[str] = []
    start(settings, port=port, per_song=2, temperatures=(0.3, 0.9), log=lines.append)
    token_file = root / "data" / "token"
    yield {"url": f"http://127.0.0.1:{port}", "checkpoint": policy["checkpoint"], "reward": str(tiny_checkpoint), "token": token_file.read_text().strip(), "data": root / "data", "songs": songs,
           "analyses": {a.song_id: a for a in analyses[:3]}, "lines": lines, "token_file": token_file}
    serve.shutdown()


def _auth(service) -> dict:
    return {"Authorization": f"Bearer {service['token']}"}


def test_token_file_is_private_and_binds_localhost(service):
    assert stat.S_IMODE(service["token_file"].stat().st_mode) == 0o600
    assert any("preference store holds" in x and " 0 pairs" not in x for x in service["lines"])
    assert requests.get(service["url"] + "/healthz", timeout=10).json() == {"status": "ok"}
    import psutil

    port = int(service["url"].rsplit(":", 1)[1])
    listening = {c.laddr.ip for c in psutil.net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN and c.laddr.port == port}
    assert listening == {"127.0.0.1"}  # bound to loopback only


def test_edit_a_stored_song_and_an_upload(service):
    a = next(iter(service["analyses"].values()))
    target = round(0.6 * a.duration_s, 1)
    r = requests.post(service["url"] + "/api/edit", json={"song_id": a.song_id, "target_seconds": target}, headers=_auth(service), timeout=60)
    assert r.status_code == 200, r.text
    out = r.json()
    from editor_rl.rl.policy import load_policy, policy_edit

    local = policy_edit(load_policy(service["checkpoint"]), a, target_seconds=target)  # the same greedy edit, made here
    assert out["edl"]["segments"] == local.to_edl()["segments"] and out["duration_s"] == pytest.approx(local.duration_s)
    from editor_rl.rewards.model import load_scorer
    from editor_rl.rewards.sequence import edit_sequence

    (r,), (sd,) = load_scorer(service["reward"]).score([edit_sequence(a, local, target_seconds=target)])
    assert out["reward"] == pytest.approx(r, abs=1e-4) and out["reward_std"] == pytest.approx(sd, abs=1e-4)  # scored by the Reward deployment
    wav = requests.get(service["url"] + out["audio_url"], timeout=30)
    assert wav.status_code == 200 and wav.content[:4] == b"RIFF"
    data = Path(a.path).read_bytes()
    r = requests.post(service["url"] + "/api/edit", files={"audio": ("mine.wav", data, "audio/wav")}, data={"target_seconds": str(target)},
                      headers=_auth(service), timeout=120)
    assert r.status_code == 200, r.text
    assert r.json()["song_id"].startswith("upload-") and r.json()["edl"]["segments"] == out["edl"]["segments"]  # same song, same greedy edit


def test_feedback_end_to_end_50_judgements_then_train_on_the_export(service):
    from editor_rl.preferences.train import train_reward_model

    url, done, seen = service["url"], 0, set()
    before = requests.get(url + "/api/feedback/stats", timeout=10).json()["judgements"]
    for rater_no in range(6):
        rater = SimulatedRater(Config().rater, rater_id=f"sim-{rater_no}")
        while done < 50:
            batch = requests.get(url + "/api/feedback/samples", params={"rater_id": rater.rater_id, "n": 5}, timeout=10).json()
            if not batch:
                break
            for s in batch:
                assert (rater.rater_id, s["pair_id"]) not in seen  # never the same pair twice to a rater
                seen.add((rater.rater_id, s["pair_id"]))
                a = service["analyses"][s["song_id"]]
                pa, pb = (EditPlan.from_edl(s[k]["edl"], source_duration_s=a.duration_s) for k in ("a", "b"))
                j = rater.judge(a, pa, pb, target_seconds=s["target_seconds"])
                r = requests.post(url + "/api/feedback/submit", headers=_auth(service), timeout=10,
                                  json={"pair_id": s["pair_id"], "preference": j.preference, "strength": j.strength, "rater_id": rater.rater_id})
                assert r.status_code == 200 and r.json()["created"], r.text
                done += 1
        if done >= 50:
            break
    assert done >= 50
    stats = requests.get(url + "/api/feedback/stats", timeout=10).json()
    assert stats["judgements"] - before == done and stats["human_model_compared"] > 0 and 0 <= stats["human_model_agreement"] <= 1
    exp = requests.get(url + "/api/feedback/export", params={"format": "jsonl"}, headers=_auth(service), timeout=30)
    assert exp.status_code == 200
    path = service["data"].parent / "export.jsonl"
    path.write_bytes(exp.content)
    records = read_preferences(path, durations={k: a.duration_s for k, a in service["analyses"].items()})
    assert len(records) == stats["judgements"]
    scorer = train_reward_model(records, service["analyses"], model_config=RewardModelConfig(**TINY_MODEL),
                                train_config=RewardTrainConfig(max_epochs=2, val_fraction=0.34), log=lambda m: None)
    assert np.isfinite(scorer.metrics["val_log_loss"])
    parquet = requests.get(url + "/api/feedback/export", params={"format": "parquet"}, headers=_auth(service), timeout=30)
    assert parquet.status_code == 200 and parquet.content[:4] == b"PAR1"


def test_bad_input_answers_4xx_with_a_clear_detail(service, tmp_path):
    url, auth = service["url"], _auth(service)
    song = next(iter(service["analyses"].values()))
    pair = requests.get(url + "/api/feedback/samples", params={"rater_id": "bad-input", "n": 1}, timeout=10).json()[0]
    ok = {"pair_id": pair["pair_id"], "preference": "a", "strength": 1, "rater_id": "bad-input"}

    def edit_upload(name: str, data: bytes):
        return requests.post(url + "/api/edit", files={"audio": (name, data)}, data={"target_seconds": "10"}, headers=auth, timeout=60)

    cases = [
        (edit_upload("notes.wav", b"this is not audio at all" * 50), 422, "notes"),
        (edit_upload("empty.wav", b""), 422, "empty"),
        (edit_upload("cut.mp3", _truncated_mp3(tmp_path)), 422, "truncated"),
        (requests.post(url + "/api/edit", data=b"x" * (17 * 1024 * 1024), headers={**auth, "Content-Type": "application/json"}, timeout=60), 413, "limit"),
        (requests.post(url + "/api/feedback/submit", json={**ok, "strength": 9}, headers=auth, timeout=10), 422, "strength"),
        (requests.post(url + "/api/feedback/submit", json={**ok, "preference": "c"}, headers=auth, timeout=10), 422, "preference"),
        (requests.post(url + "/api/feedback/submit", json=ok, timeout=10), 401, "token"),
        (requests.post(url + "/api/feedback/submit", json=ok, headers={"Authorization": "Bearer wrong"}, timeout=10), 403, "token"),
        (requests.get(url + "/api/feedback/export", timeout=10), 401, "token"),
        (requests.post(url + "/api/feedback/submit", json={**ok, "pair_id": "no-such-pair"}, headers=auth, timeout=10), 404, "no-such-pair"),
        (requests.post(url + "/api/feedback/rating", json={"candidate_id": "ghost", "rater_id": "r", "quality": 3, "overall": 3}, headers=auth, timeout=10), 404, "ghost"),
        (requests.post(url + "/api/edit", json={"song_id": "no-such-song", "target_seconds": 10}, headers=auth, timeout=30), 404, "no-such-song"),
        (requests.post(url + "/api/edit", json={"song_id": song.song_id, "target_seconds": 10 * song.duration_s}, headers=auth, timeout=30), 422, "target_seconds"),
        (requests.get(url + "/api/audio/nothing-here", timeout=10), 404, "nothing-here"),
    ]
    for r, code, word in cases:
        assert r.status_code == code, (word, r.status_code, r.text[:300])
        assert word in json.dumps(r.json()["detail"]), (word, r.text[:300])
    assert requests.get(url + "/healthz", timeout=10).status_code == 200
    assert requests.post(url + "/api/feedback/submit", json=ok, headers=auth, timeout=10).status_code == 200  # and it still works


def _truncated_mp3(tmp_path) -> bytes:
    import soundfile as sf

    t = np.arange(44100 * 3) / 44100
    path = tmp_path / "tone.mp3"
    sf.write(path, 0.3 * np.sin(2 * np.pi * 220 * t), 44100, format="MP3")
    data = path.read_bytes()
    return data[: len(data) // 2]


def test_durability_concurrent_submits_then_sigkill(service):
    import psutil
    import ray

    url, auth = service["url"], _auth(service)
    pairs = requests.get(url + "/api/feedback/samples", params={"rater_id": "load", "n": 50}, timeout=10).json()
    acked: list[str] = []
    lock = threading.Lock()

    def client(k: int) -> None:
        with requests.Session() as s:
            for i in range(200):
                key = f"c{k}-{i}-{uuid.uuid4().hex[:6]}"
                body = {"pair_id": pairs[(k * 200 + i) % len(pairs)]["pair_id"], "preference": "ab"[i % 2], "strength": 1 + i % 3,
                        "rater_id": f"load-{k}", "idempotency_key": key}
                try:
                    r = s.post(url + "/api/feedback/submit", json=body, headers=auth, timeout=30)
                except requests.RequestException:
                    continue
                if r.status_code == 200:
                    with lock:
                        acked.append(key)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    while len(acked) < 300:
        time.sleep(0.05)
    replica = [p for p in psutil.process_iter(["pid", "cmdline"]) if "ServeReplica:editor-rl:Feedback" in " ".join(p.info["cmdline"] or [])]
    assert len(replica) == 1, "no Feedback replica found"
    os.kill(replica[0].info["pid"], signal.SIGKILL)  # the process holding the SQLite connection dies mid-load
    for t in threads:
        t.join()
    assert len(acked) >= 300
    deadline = time.time() + 60
    while requests.get(url + "/api/feedback/stats", timeout=10).status_code != 200 and time.time() < deadline:
        time.sleep(0.5)  # Serve brings the replica back
    store = PreferenceStore(service["data"] / "preferences.sqlite")
    keys = [r[0] for r in store._conn().execute("SELECT idempotency_key FROM judgements WHERE rater_id LIKE 'load-%'")]
    assert len(keys) == len(set(keys))
    assert set(acked) <= set(keys)  # every acknowledged submit is there, exactly once
    assert store.integrity_check() == "ok"
    assert ray.is_initialized()


CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"]


def test_web_ui_in_headless_chromium(service, tmp_path):
    from playwright.sync_api import sync_playwright

    url = service["url"]
    requested: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.on("request", lambda r: requested.append(r.url))
        page.goto(f"{url}/?rater=ui-tester&token={service['token']}")
        page.wait_for_function("document.querySelector('#task').textContent.startsWith('Song')", timeout=30_000)
        page.wait_for_function("document.querySelector('#stats').dataset.judgements !== undefined", timeout=30_000)
        before = int(page.get_attribute("#stats", "data-judgements"))
        # the waveform is drawn and the seams are marked (red pixels) where the EDL has them
        page.wait_for_function("document.querySelector('#player-a canvas').dataset.duration > 0", timeout=30_000)
        painted = page.evaluate("""(() => { const c = document.querySelector('#player-a canvas');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let blue = 0, red = 0;
            for (let i = 0; i < d.length; i += 4) { if (d[i + 2] > 120 && d[i] < 120) blue++; if (d[i] > 180 && d[i + 1] < 80) red++; }
            return [blue, red]; })()""")
        n_seams = page.locator("#player-a .seams button").count()
        assert painted[0] > 1000 and (painted[1] > 0) == (n_seams > 0)  # a waveform, and red seam marks where there are seams
        assert n_seams == len(page.evaluate("state.pair.a.edl.segments")) - 1
        # audio plays
        page.click("#player-a .play")
        page.wait_for_function("document.querySelector('#player-a audio').currentTime > 0.3", timeout=30_000)
        assert not page.evaluate("document.querySelector('#player-a audio').paused")
        if n_seams:
            page.click("#player-a .seams button.seam")  # jump to just before the first seam
            seam = page.evaluate("state.pair.a.edl.segments[1].out_start_s")
            assert abs(page.evaluate("document.querySelector('#player-a audio').currentTime") - max(0, seam - 2)) < 1.0
        first_pair = page.evaluate("state.pair.pair_id")
        # judge with the keyboard: B, strength 3, Enter
        page.fill("#notes", "the second seam of A jumps")
        page.evaluate("document.activeElement.blur()")
        for key in ("b", "3", "Enter"):
            page.keyboard.press(key)
        page.wait_for_function("document.querySelector('#progress').textContent.endsWith(': 1')", timeout=30_000)
        page.wait_for_function(f"Number(document.querySelector('#stats').dataset.judgements) === {before + 1}", timeout=30_000)
        page.wait_for_function(f"state.pair && state.pair.pair_id !== {json.dumps(first_pair)}", timeout=30_000)  # the next pair came
        page.wait_for_function("document.querySelector('#player-b canvas').dataset.duration > 0", timeout=30_000)
        page.screenshot(path=str(tmp_path / "ui.png"))
        browser.close()
    assert all(u.startswith(url) or u.startswith("data:") or u.startswith("blob:") for u in requested), [u for u in requested if not u.startswith(url)]
    recs = [r for r in PreferenceStore(service["data"] / "preferences.sqlite").records() if r.rater_id == "ui-tester"]
    assert [(r.pair_id.split("#")[0], r.preference, r.strength, r.notes) for r in recs] == [(first_pair, "b", 3, "the second seam of A jumps")]


def test_serve_config_file_builds_the_same_app(tmp_path, monkeypatch):
    import yaml
    from ray.serve import Application

    from editor_rl.serving.app import build_app

    cfg = yaml.safe_load((Path(__file__).parents[1] / "serve" / "local.yaml").read_text())
    app = cfg["applications"][0]
    assert app["import_path"] == "editor_rl.serving.app:build_app" and cfg["http_options"]["host"] == "127.0.0.1"
    monkeypatch.chdir(tmp_path)
    built = build_app(app["args"])
    assert isinstance(built, Application)
    settings = built._bound_deployment.init_args[0]
    assert Path(settings.checkpoint) == tmp_path / app["args"]["checkpoint"] and Path(settings.data_dir).is_absolute()


def test_overload_answers_503_not_an_endless_queue(service):
    """A second app on the same Serve, with room for one edit in progress and one waiting."""
    from concurrent.futures import ThreadPoolExecutor
    from dataclasses import replace

    from ray import serve

    from editor_rl.serving.app import build_app
    from editor_rl.serving.deployments import ServeSettings

    small = ServeSettings(checkpoint=service["checkpoint"], data_dir=str(service["data"]), songs_dir=str(service["songs"]), config=Config(),
                          max_queued_requests=1, max_ongoing_edits=1)
    serve.run(build_app(replace(small)), name="tiny", route_prefix="/tiny")
    try:
        a = next(iter(service["analyses"].values()))
        body = {"song_id": a.song_id, "target_seconds": round(0.5 * a.duration_s, 1), "temperature": 0.5}

        def post(_):
            return requests.post(service["url"] + "/tiny/api/edit", json=body, headers=_auth(service), timeout=120)

        with ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(post, range(12)))
        codes = sorted(r.status_code for r in answers)
        assert 200 in codes and 503 in codes and set(codes) <= {200, 503}, codes
        busy = next(r for r in answers if r.status_code == 503)
        assert "busy" in busy.json()["detail"] and busy.headers.get("Retry-After") == "1"
        assert requests.get(service["url"] + "/healthz", timeout=10).status_code == 200
    finally:
        serve.delete("tiny")
