// editor-rl feedback page: two players, seams marked on the waveforms, A / B / tie with strength.
// Loads nothing from outside this server.
// Needs wave.js (the players).
"use strict";
// A judgement's idempotency key is made when its pair is shown: a double click or a retry of the same
// judgement replays it (the server returns the stored one), a changed answer is refused (409).
const state = { pair: null, pref: null, moodPref: null, judged: 0, key: null, rateKeys: {} };

function setStatus(msg, error = false) {
  const s = $("#status");
  s.textContent = msg;
  s.className = error ? "error" : "";
}

function headers() {
  return { "Content-Type": "application/json", "Authorization": "Bearer " + $("#token").value.trim() };
}

function togglePlay(side) {
  const a = $("#player-" + side + " audio"), other = $("#player-" + (side === "a" ? "b" : "a") + " audio");
  other.pause();
  if (a.paused) a.play(); else a.pause();
}

function chooseMood(pref) {
  state.moodPref = pref;
  document.querySelectorAll("#mood-row button").forEach((b) => b.classList.toggle("selected", b.dataset.moodPref === pref));
}

function choose(pref) {
  state.pref = pref;
  document.querySelectorAll(".choice button").forEach((b) => b.classList.toggle("selected", b.dataset.pref === pref));
  $("#submit").disabled = !state.pair;
}

async function loadPair() {
  state.pair = null; choose(null);
  $("#notes").value = "";
  document.querySelector('input[name=strength][value="1"]').checked = true;
  const rater = $("#rater").value.trim();
  if (!rater) { $("#task").textContent = "Enter a rater name to start."; return; }
  const r = await fetch(`/api/feedback/samples?n=1&rater_id=${encodeURIComponent(rater)}`);
  const pairs = await r.json();
  if (!r.ok) { setStatus(JSON.stringify(pairs.detail), true); return; }
  if (!pairs.length) { $("#task").textContent = "No pairs left for you: thank you!"; return; }
  state.pair = pairs[0];
  state.key = uuid();
  state.rateKeys = { a: uuid(), b: uuid() };
  $("#task").textContent = `Song ${state.pair.song_id}, edited to ${state.pair.target_seconds.toFixed(1)} s. Listen to both, then choose.`;
  setupPlayer($("#player-a"), state.pair.a);
  setupPlayer($("#player-b"), state.pair.b);
  const mood = state.pair.a.edl.mood;  // a pair made for a mood: which edit fits it better, too
  chooseMood(null);
  $("#mood-row").hidden = !mood;
  if (mood) $("#mood-question").textContent = `Asked for ${mood.name || `arousal ${mood.arousal}, valence ${mood.valence}`}: which fits it better?`;
}

async function submit() {
  if (!state.pair || !state.pref) { setStatus("choose A, B or about the same first", true); return; }
  const body = {
    pair_id: state.pair.pair_id, preference: state.pref, rater_id: $("#rater").value.trim(),
    strength: Number(document.querySelector("input[name=strength]:checked").value), notes: $("#notes").value, idempotency_key: state.key,
  };
  if (state.moodPref) body.mood_preference = state.moodPref;
  const r = await fetch("/api/feedback/submit", { method: "POST", headers: headers(), body: JSON.stringify(body) });
  const out = await r.json();
  if (!r.ok) { setStatus(`not saved (${r.status}): ${JSON.stringify(out.detail)}`, true); return; }
  if (out.created) state.judged += 1;  // a replay (double click) returns the stored judgement
  $("#progress").textContent = `judged this session: ${state.judged}`;
  setStatus("saved");
  await refreshStats();
  await loadPair();
}

async function rate(side) {
  const root = $("#player-" + side);
  if (!root.dataset.candidate) return;
  const body = { candidate_id: root.dataset.candidate, rater_id: $("#rater").value.trim(), feel: Number($(".feel", root).value),
                 quality: Number($(".quality", root).value), overall: Number($(".overall", root).value), idempotency_key: state.rateKeys[side] };
  const r = await fetch("/api/feedback/rating", { method: "POST", headers: headers(), body: JSON.stringify(body) });
  setStatus(r.ok ? `rating of ${side.toUpperCase()} saved` : `rating not saved (${r.status})`, !r.ok);
}

async function refreshStats() {
  const s = await (await fetch("/api/feedback/stats")).json();
  const pct = (x) => (x === null || x === undefined ? "—" : (100 * x).toFixed(0) + " %");
  $("#stats").textContent = `all raters: ${s.judgements} judgement${s.judgements === 1 ? "" : "s"} on ${s.pairs} pairs · A ${s.balance.a} / B ${s.balance.b} / same ${s.balance.tie}` +
    ` · agreement with the reward model ${pct(s.human_model_agreement)} · between raters ${pct(s.inter_rater_agreement)}`;
  $("#stats").dataset.judgements = s.judgements;
}

function init() {
  // The rater's name may come in the link (?rater=…); the token never does (it would land in logs and history).
  for (const k of ["rater", "token"]) {
    const el = $("#" + k);
    el.value = localStorage.getItem("editor-rl-" + k) || (k === "rater" ? new URLSearchParams(location.search).get(k) : "") || "";
    el.addEventListener("change", () => { localStorage.setItem("editor-rl-" + k, el.value); if (k === "rater") loadPair(); });
  }
  document.querySelectorAll("select.feel, select.quality, select.overall").forEach((s) => {
    for (let v = 1; v <= 5; v++) s.add(new Option("★".repeat(v), v, v === 3, v === 3));
  });
  document.querySelectorAll(".choice button[data-pref]").forEach((b) => (b.onclick = () => choose(b.dataset.pref)));
  document.querySelectorAll("#mood-row button").forEach((b) => (b.onclick = () => chooseMood(b.dataset.moodPref)));
  document.querySelectorAll(".player").forEach((p) => {
    const side = p.dataset.side, audio = $("audio", p);
    $(".play", p).onclick = () => togglePlay(side);
    $(".send-rating", p).onclick = () => rate(side);
    audio.ontimeupdate = () => ($(".time", p).textContent = audio.currentTime.toFixed(1) + " s");
    $("canvas.wave", p).onclick = (e) => {
      const d = Number(e.target.dataset.duration || 0);
      audio.currentTime = d * e.offsetX / e.target.clientWidth; audio.play();
    };
  });
  $("#submit").onclick = submit;
  $("#skip").onclick = loadPair;
  document.addEventListener("keydown", (e) => {
    if (e.target.tagName === "INPUT" || e.target.tagName === "TEXTAREA" || e.target.tagName === "SELECT") return;
    const k = e.key.toLowerCase();
    if (k === "a" || k === "b") choose(k);
    else if (k === "t") choose("tie");
    else if ("123".includes(k) && k.length === 1) document.querySelector(`input[name=strength][value="${k}"]`).checked = true;
    else if (k === "q") togglePlay("a");
    else if (k === "w") togglePlay("b");
    else if (k === "enter") submit();
    else if (k === "n") loadPair();
  });
  refreshStats();
  loadPair();
}
init();
