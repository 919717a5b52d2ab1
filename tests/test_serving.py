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
import soundfile as sf

from editor_rl.config import Config, RewardModelConfig, RewardTrainConfig
from editor_rl.edit.plan import EditPlan
from editor_rl.raters.rater import SimulatedRater
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
    from editor_rl.editors.best_of import best_edits, job_seed
    from editor_rl.rewards.model import load_scorer
    from editor_rl.rewards.sequence import edit_sequence
    from editor_rl.policy.load import load_policy

    scorer = load_scorer(service["reward"])
    (local,) = best_edits(load_policy(service["checkpoint"]), [(a, target, job_seed(a, target))], scorer=scorer, config=Config())  # the same best of N, made here
    assert out["edl"]["segments"] == local.to_edl()["segments"] and out["duration_s"] == pytest.approx(local.duration_s)
    assert out["model_version"] == "v001"
    (r,), (sd,) = scorer.score([edit_sequence(a, local, target_seconds=target)])
    assert out["reward"] == pytest.approx(r, abs=1e-4) and out["reward_std"] == pytest.approx(sd, abs=1e-4)  # scored by the Reward deployment
    renders = service["data"] / "renders"
    assert (renders / f"{out['edit_id']}.json").is_file() and not (renders / f"{out['edit_id']}.wav").exists()  # nothing rendered on the request path
    again = requests.post(service["url"] + "/api/edit", json={"song_id": a.song_id, "target_seconds": target}, headers=_auth(service), timeout=60).json()
    assert again["edit_id"] == out["edit_id"] and again["edl"] == out["edl"]  # the same request again: the cached best edit
    sampled = [requests.post(service["url"] + "/api/edit", json={"song_id": a.song_id, "target_seconds": target, "temperature": 1.0},
                             headers=_auth(service), timeout=60).json()["edit_id"] for _ in range(2)]
    assert len(set(sampled)) == 2 and out["edit_id"] not in sampled  # samples are never cached
    wav = requests.get(service["url"] + out["audio_url"], timeout=30)
    assert wav.status_code == 200 and wav.content[:4] == b"RIFF"  # rendered at its first fetch
    assert sf.info(renders / f"{out['edit_id']}.wav").duration == pytest.approx(out["duration_s"], abs=0.05)
    n = len(wav.content)
    part = requests.get(service["url"] + out["audio_url"], headers={"Range": f"bytes=100-{n - 2}"}, timeout=30)  # a browser's audio element asks for ranges
    assert part.status_code == 206 and part.content == wav.content[100 : n - 1]
    data = Path(a.path).read_bytes()
    r = requests.post(service["url"] + "/api/edit", files={"audio": ("mine.wav", data, "audio/wav")}, data={"target_seconds": str(target)},
                      headers=_auth(service), timeout=120)
    assert r.status_code == 200, r.text
    assert r.json()["song_id"].startswith("upload-") and r.json()["edl"]["segments"] == out["edl"]["segments"]  # same song, same best edit


def test_edit_in_a_mood_over_http(service):
    from editor_rl.audio.mood import named_mood, mood_point
    from editor_rl.editors.best_of import best_picks, job_seed
    from editor_rl.policy.load import load_policy
    from editor_rl.rewards.model import load_scorer

    a = next(iter(service["analyses"].values()))
    target = round(0.4 * a.duration_s, 1)
    post = lambda body: requests.post(service["url"] + "/api/edit", json={"song_id": a.song_id, "target_seconds": target} | body, headers=_auth(service), timeout=60)
    calm = post({"mood": "calm"})
    assert calm.status_code == 200, calm.text
    out = calm.json()
    assert out["mood"] == out["edl"]["mood"] == {"name": "calm", "arousal": -0.7, "valence": 0.4}
    (local,) = best_picks(load_policy(service["checkpoint"]), [(a, target, job_seed(a, target))], scorer=load_scorer(service["reward"]), config=Config(),
                          moods=[named_mood("calm")])
    assert out["edl"]["segments"] == local.plan.to_edl()["segments"]  # the same steered best of N, made here
    point = post({"mood": {"arousal": 0.8, "valence": -0.6}}).json()
    assert point["edl"]["mood"] == mood_point(arousal=0.8, valence=-0.6).to_json() and point["edit_id"] != out["edit_id"]  # cached per mood
    assert post({"mood": "calm"}).json()["edit_id"] == out["edit_id"]
    plain = post({}).json()
    assert "mood" not in plain["edl"] and plain["mood"] is None and plain["edit_id"] != out["edit_id"]
    for body, word in (({"mood": "happy"}, "happy"), ({"mood": {"arousal": 1.5, "valence": 0}}, "arousal"), ({"mood": "0.1,-2"}, "valence=-2.0"),
                       ({"mood": "calm", "temperature": 0.5}, "temperature")):
        r = post(body)
        assert r.status_code == 422 and word in json.dumps(r.json()["detail"]), (body, r.text)
    up = requests.post(service["url"] + "/api/edit", files={"audio": ("mine.wav", Path(a.path).read_bytes(), "audio/wav")},
                       data={"target_seconds": str(target), "mood": "calm"}, headers=_auth(service), timeout=120)
    assert up.status_code == 200 and up.json()["edl"]["segments"] == out["edl"]["segments"]  # an upload in a mood: the same edit


def test_feedback_end_to_end_50_judgements_then_train_on_the_export(service):
    from editor_rl.rewards.train import train_reward_model

    url, done, seen = service["url"], 0, set()
    before = requests.get(url + "/api/feedback/stats", timeout=10).json()["judgements"]
    for rater_no in range(6):
        rater = SimulatedRater("balanced", seed=rater_no, rater_id=f"sim-{rater_no}")
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

    first = requests.post(url + "/api/feedback/submit", json={**ok, "idempotency_key": "bad-input-1"}, headers=auth, timeout=10)
    assert first.status_code == 200 and first.json()["created"]
    replay = requests.post(url + "/api/feedback/submit", json={**ok, "idempotency_key": "bad-input-1"}, headers=auth, timeout=10)
    assert replay.status_code == 200 and replay.json() == {"id": first.json()["id"], "created": False}  # a retry returns the stored one
    cases = [
        (requests.post(url + "/api/feedback/submit", json={**ok, "preference": "b", "idempotency_key": "bad-input-1"}, headers=auth, timeout=10), 409, "another answer"),
        (requests.post(url + "/api/feedback/submit", json={**ok, "preference": "tie"}, headers=auth, timeout=10), 409, "bad-input"),
        (edit_upload("notes.wav", b"this is not audio at all" * 50), 422, "notes"),
        (edit_upload("empty.wav", b""), 422, "empty"),
        (edit_upload("cut.mp3", _truncated_mp3(tmp_path)), 422, "truncated"),
        (requests.post(url + "/api/edit", data=b"--x\r\n", headers={**auth, "Content-Type": "multipart/form-data"}, timeout=10), 400, "boundary"),
        (requests.post(url + "/api/edit", files={"audio": ("a.wav", b"RIFF"), "also": ("b.wav", b"RIFF")}, headers=auth, timeout=10), 400, "files"),
        (requests.post(url + "/api/edit", files={"song": ("a.wav", b"RIFF")}, data={"target_seconds": "10"}, headers=auth, timeout=10), 422, "audio"),
        (requests.post(url + "/api/edit", data=b"x" * (17 * 1024 * 1024), headers={**auth, "Content-Type": "application/json"}, timeout=60), 413, "limit"),
        (requests.post(url + "/api/feedback/submit", json={**ok, "strength": 9}, headers=auth, timeout=10), 422, "strength"),
        (requests.post(url + "/api/feedback/submit", json={**ok, "preference": "c"}, headers=auth, timeout=10), 422, "preference"),
        (requests.post(url + "/api/feedback/submit", json=ok, timeout=10), 401, "token"),
        (requests.post(url + "/api/feedback/submit", json=ok, headers={"Authorization": "Bearer wrong"}, timeout=10), 403, "token"),
        (requests.get(url + "/api/feedback/export", timeout=10), 401, "token"),
        (requests.post(url + "/api/feedback/submit", json={**ok, "pair_id": "no-such-pair"}, headers=auth, timeout=10), 404, "no-such-pair"),
        (requests.post(url + "/api/feedback/rating", json={"candidate_id": "ghost", "rater_id": "r", "feel": 3, "quality": 3, "overall": 3}, headers=auth, timeout=10), 404, "ghost"),
        (requests.post(url + "/api/edit", json={"song_id": "no-such-song", "target_seconds": 10}, headers=auth, timeout=30), 404, "no-such-song"),
        (requests.post(url + "/api/edit", json={"song_id": song.song_id, "target_seconds": 10 * song.duration_s}, headers=auth, timeout=30), 422, "target_seconds"),
        (requests.get(url + "/api/audio/nothing-here", timeout=10), 404, "nothing-here"),
    ]
    for r, code, word in cases:
        assert r.status_code == code, (word, r.status_code, r.text[:300])
        assert word in json.dumps(r.json()["detail"]), (word, r.text[:300])
    assert requests.get(url + "/healthz", timeout=10).status_code == 200
    assert requests.post(url + "/api/feedback/submit", json=ok, headers=auth, timeout=10).status_code == 200  # and it still works
    assert len([r for r in PreferenceStore(service["data"] / "preferences.sqlite").records() if r.rater_id == "bad-input"]) == 1


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
                        "rater_id": f"load-{k}-{i // len(pairs)}", "idempotency_key": key}  # one judgement per (pair, rater)
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
        page.goto(f"{url}/?rater=ui-tester&token=not-read-from-the-url")
        page.wait_for_function("document.querySelector('#task').textContent.startsWith('Song')", timeout=30_000)
        assert not page.is_visible("#mood-row")  # no mood asked: no mood question
        assert page.input_value("#token") == ""  # a token in the URL is ignored (it would land in logs and history)
        page.fill("#token", service["token"])
        page.wait_for_function("document.querySelector('#stats').dataset.judgements !== undefined", timeout=30_000)
        before = int(page.get_attribute("#stats", "data-judgements"))
        # the waveform is drawn and the seams are marked (red pixels) where the EDL has them
        page.wait_for_function("document.querySelector('#player-a canvas.wave').dataset.duration > 0", timeout=30_000)
        painted = page.evaluate("""(() => { const c = document.querySelector('#player-a canvas.wave');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let blue = 0, red = 0;
            for (let i = 0; i < d.length; i += 4) { if (d[i + 2] > 120 && d[i] < 120) blue++; if (d[i] > 180 && d[i + 1] < 80) red++; }
            return [blue, red]; })()""")
        kept = page.evaluate("""(() => { const c = document.querySelector('#player-a canvas.strip');
            const d = c.getContext('2d').getImageData(0, 0, c.width, 1).data; let blue = 0;
            for (let i = 0; i < d.length; i += 4) if (d[i + 2] > d[i] + 40) blue++;
            return blue / c.width; })()""")
        edl = page.evaluate("state.pair.a.edl")
        spans = sorted((s["src_start_s"], s["src_end_s"]) for s in edl["segments"])
        union = sum(e - max(s, max([b for _, b in spans[:k]], default=0.0)) for k, (s, e) in enumerate(spans) if e > max([b for _, b in spans[:k]], default=0.0))
        kept_share = union / edl["source_duration_s"]
        assert abs(kept - kept_share) < 0.05  # the strip of the whole song marks what the edit keeps
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
        for key in ("b", "3"):
            page.keyboard.press(key)
        page.evaluate("Promise.all([submit(), submit()])")  # a double click: the same judgement twice
        page.wait_for_function("document.querySelector('#progress').textContent.endsWith(': 1')", timeout=30_000)
        page.wait_for_function(f"Number(document.querySelector('#stats').dataset.judgements) === {before + 1}", timeout=30_000)
        page.wait_for_function(f"state.pair && state.pair.pair_id !== {json.dumps(first_pair)}", timeout=30_000)  # the next pair came
        page.wait_for_function("document.querySelector('#player-b canvas.wave').dataset.duration > 0", timeout=30_000)
        page.screenshot(path=str(tmp_path / "ui.png"))
        browser.close()
    assert all(u.startswith(url) or u.startswith("data:") or u.startswith("blob:") for u in requested), [u for u in requested if not u.startswith(url)]
    recs = [r for r in PreferenceStore(service["data"] / "preferences.sqlite").records() if r.rater_id == "ui-tester"]
    assert [(r.pair_id.split("#")[0], r.preference, r.strength, r.notes) for r in recs] == [(first_pair, "b", 3, "the second seam of A jumps")]  # stored once


def test_edit_page_in_headless_chromium(service, tmp_path):
    """A person's page: upload a song, a length and a mood; hear it; download WAV and EDL; another one; judge the two."""
    from playwright.sync_api import sync_playwright

    url, song = service["url"], next(iter(service["songs"].glob("*.wav")))
    requested: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(accept_downloads=True)
        page.on("request", lambda r: requested.append(r.url))
        page.goto(f"{url}/edit?rater=page-user")
        page.wait_for_function("document.querySelector('#stored').options.length > 1", timeout=30_000)  # the stored songs are offered
        page.fill("#token", service["token"])
        page.dispatch_event("#token", "change")
        page.set_input_files("#file", str(song))
        page.fill("#seconds", "20")
        page.select_option("#mood", "calm")
        page.click("#make")
        page.wait_for_function("document.querySelector('#edit-a canvas.wave').dataset.duration > 0", timeout=60_000)
        edl = page.evaluate("state.first.edl")
        assert edl["mood"]["name"] == "calm" and abs(edl["duration_s"] - 20) <= 1.0 and "calm" in page.text_content("#edit-a .what")
        assert page.locator("#edit-a .seams button").count() == len(edl["segments"]) - 1
        page.click("#edit-a .play")  # it plays
        page.wait_for_function("document.querySelector('#edit-a audio').currentTime > 0.3", timeout=30_000)
        with page.expect_download() as wav:
            page.click("#edit-a a.wav")
        assert sf.info(wav.value.path()).duration == pytest.approx(edl["duration_s"], abs=0.05)
        with page.expect_download() as edl_file:
            page.click("#edit-a a.edl")
        assert json.loads(Path(edl_file.value.path()).read_text()) == edl and edl_file.value.suggested_filename.endswith(".edl.json")
        page.click("#another")
        page.wait_for_function("document.querySelector('#edit-b canvas.wave').dataset.duration > 0", timeout=60_000)
        second = page.evaluate("state.second.edl")
        assert second["segments"] != edl["segments"] and second["mood"] == edl["mood"]  # another edit in the same mood
        assert "calm" in page.text_content("#question")
        assert page.is_visible("#judge .mood-choice") and "calm" in page.text_content("#mood-question")
        page.click("#judge .choice button[data-pref=b]")
        page.click("#judge .mood-choice button[data-mood-pref=a]")
        page.click("#judge input[name=strength][value='2']")
        page.click("#submit")
        page.wait_for_function("document.querySelector('#judged').dataset.saved === '1'", timeout=30_000)
        pair_id = page.evaluate("state.pairId")
        page.screenshot(path=str(tmp_path / "edit-page.png"))
        page.goto(f"{url}/?rater=mood-rater")  # the pair is offered to raters too (most uncertain first), with its mood question
        page.wait_for_function(f"state.pair && state.pair.pair_id === {json.dumps(pair_id)}", timeout=30_000)
        assert page.is_visible("#mood-row") and "calm" in page.text_content("#mood-question")
        browser.close()
    assert all(u.startswith(url) or u.startswith("blob:") or u.startswith("data:") for u in requested)
    store = PreferenceStore(service["data"] / "preferences.sqlite")
    (rec,) = [r for r in store.records() if r.rater_id == "page-user"]
    assert rec.pair_id.split("#")[0] == pair_id and rec.preference == "b" and rec.strength == 2  # a judgement like any other
    assert rec.mood_preference == "a"  # and which fits the mood better
    assert rec.a.edl["segments"] == edl["segments"] and rec.b.edl["segments"] == second["segments"]
    missing = requests.post(url + "/api/edit/another", json={"edit_id": "0123abcd", "rater_id": "page-user"}, headers=_auth(service), timeout=30)
    bad = requests.post(url + "/api/edit/another", json={"edit_id": "../x", "rater_id": "page-user"}, headers=_auth(service), timeout=30)
    unnamed = requests.post(url + "/api/edit/another", json={"edit_id": "0123abcd"}, headers=_auth(service), timeout=30)
    assert (missing.status_code, bad.status_code, unnamed.status_code) == (404, 422, 422)
    assert "0123abcd" in missing.json()["detail"] and "rater_id" in unnamed.json()["detail"]


def test_serve_config_file_builds_the_same_app(tmp_path, monkeypatch):
    import yaml
    from ray.serve import Application

    from editor_rl.serving.app import build_app

    cfg = yaml.safe_load((Path(__file__).parents[1] / "cluster" / "serve-local.yaml").read_text())
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
        for busy in (r for r in answers if r.status_code == 503):  # every 503 is this app's (not Serve's plain-text backpressure answer)
            assert "busy" in busy.json()["detail"] and busy.headers.get("Retry-After") == "1"
        assert requests.get(service["url"] + "/healthz", timeout=10).status_code == 200
    finally:
        serve.delete("tiny")


def test_two_editor_replicas_serve_an_upload_then_its_edit(service):
    """Each replica keeps its own song table: an upload saved by one must be found by the other."""
    from ray import serve

    from editor_rl.serving.app import build_app
    from editor_rl.serving.deployments import ServeSettings

    two = ServeSettings(checkpoint=service["checkpoint"], data_dir=str(service["data"]), songs_dir=str(service["songs"]), config=Config(), editor_replicas=2)
    serve.run(build_app(two), name="two", route_prefix="/two")
    try:
        a = next(iter(service["analyses"].values()))
        fresh = Path(a.path).read_bytes()[:-4000] + b"\0" * 4000  # new bytes (a new upload id), still a whole WAV: the replicas cannot know it from their start
        upload = requests.post(service["url"] + "/two/api/edit", files={"audio": ("again.wav", fresh)},
                               data={"target_seconds": str(round(0.5 * a.duration_s, 1))}, headers=_auth(service), timeout=120)
        assert upload.status_code == 200, upload.text
        song_id, served_by, urls = upload.json()["song_id"], set(), set()
        deadline = time.time() + 120
        while len(served_by) < 2 and time.time() < deadline:  # until both replicas have edited the upload
            r = requests.post(service["url"] + "/two/api/edit", json={"song_id": song_id, "target_seconds": round(0.5 * a.duration_s, 1)},
                              headers=_auth(service), timeout=120)
            assert r.status_code == 200, r.text
            served_by.add(r.headers["X-Editor-Replica"])
            urls.add(r.json()["audio_url"])
        assert len(served_by) == 2
        for url in urls:  # the audio is rendered by whichever replica the fetch reaches
            for _ in range(3):
                wav = requests.get(service["url"] + "/two" + url, timeout=60)
                assert wav.status_code == 200 and wav.content[:4] == b"RIFF"
    finally:
        serve.delete("two")


def test_prune_deletes_stale_then_least_recently_used(tmp_path):
    from editor_rl.serving.housekeeping import prune, touch

    now = time.time()
    for name, age_h in (("old", 30), ("a", 3), ("b", 2), ("c", 1)):
        p = tmp_path / f"{name}.wav"
        p.write_bytes(b"x" * 1000)
        os.utime(p, (now - age_h * 3600, now - age_h * 3600))
    touch(tmp_path / "a.wav")  # used just now: the most recent
    gone = prune(tmp_path, max_bytes=2500, max_age_s=24 * 3600, now=time.time())
    assert [p.name for p in gone] == ["old.wav", "b.wav"] and sorted(p.name for p in tmp_path.iterdir()) == ["a.wav", "c.wav"]


@pytest.mark.parametrize("token_file,env", [("", None), ("short", None), (None, "  ")])
def test_serve_refuses_to_start_without_a_usable_token(tmp_path, token_file, env, service, monkeypatch):
    from editor_rl.apps.cli import main

    data = tmp_path / "data"
    data.mkdir()
    if token_file is not None:
        (data / "token").write_text(token_file)
    if env is not None:
        monkeypatch.setenv("EDITOR_RL_TOKEN", env)
    assert main(["serve", "--checkpoint", service["checkpoint"], "--data", str(data), "--port", str(free_port())]) == 2


def test_token_file_is_made_whole_and_never_printed(tmp_path, monkeypatch):
    from editor_rl.serving.security import resolve_token

    monkeypatch.delenv("EDITOR_RL_TOKEN", raising=False)
    said: list[str] = []
    token = resolve_token(tmp_path, announce=said.append)
    assert len(token) >= 40 and (tmp_path / "token").read_text().strip() == token and stat.S_IMODE((tmp_path / "token").stat().st_mode) == 0o600
    assert len(said) == 1 and token not in said[0] and str(tmp_path / "token") in said[0]
    assert resolve_token(tmp_path, announce=said.append) == token and len(said) == 1  # made once
    assert not list(tmp_path.glob(".token*"))


def test_sigterm_drains_and_stops_serve_and_ray(service, tmp_path):
    """`editor-rl serve` in its own process (its own Ray): SIGTERM → exit 0, its Ray processes gone, the port closed."""
    import subprocess
    import sys

    import psutil

    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"} | {"EDITOR_RL_TOKEN": "a-token-long-enough-for-the-test", "PYTHONUNBUFFERED": "1"}
    exe = Path(sys.executable).with_name("editor-rl")
    proc = subprocess.Popen([str(exe), "serve", "--checkpoint", service["checkpoint"], "--data", str(tmp_path / "data"), "--port", str(port),
                             "--set", "run.num_cpus=1"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 240
        while time.time() < deadline:
            assert proc.poll() is None, proc.stdout.read()[-3000:]
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(1.0)
        children = psutil.Process(proc.pid).children(recursive=True)
        assert any("raylet" in " ".join(c.cmdline()) for c in children)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out[-3000:]
    assert "serve: stopped" in out and "Traceback" not in out
    deadline = time.time() + 60
    while any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children) and time.time() < deadline:
        time.sleep(0.5)
    assert not [c.pid for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
