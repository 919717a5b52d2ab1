// editor-rl feedback page: two players, seams marked on the waveforms, A / B / tie with strength.
// Loads nothing from outside this server.
"use strict";
const $ = (sel, root = document) => root.querySelector(sel);
// A judgement's idempotency key is made when its pair is shown: a double click or a retry of the same
// judgement replays it (the server returns the stored one), a changed answer is refused (409).
const state = { pair: null, pref: null, judged: 0, key: null, rateKeys: {} };

function uuid() {
  return (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random().toString(16).slice(2));
}

function setStatus(msg, error = false) {
  const s = $("#status");
  s.textContent = msg;
  s.className = error ? "error" : "";
}

function headers() {
  return { "Content-Type": "application/json", "Authorization": "Bearer " + $("#token").value.trim() };
}

function seamsOf(edl) {
  // output times where one segment ends and the next (a jump in the source) begins
  return (edl.segments || []).slice(1).map((s) => s.out_start_s);
}

function drawSeams(ctx, canvas, seams, duration) {
  ctx.fillStyle = "#d33";
  for (const t of seams) ctx.fillRect(Math.round(t / duration * canvas.width), 0, 2, canvas.height);
}

async function drawWave(canvas, url, seams, duration) {
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  delete canvas.dataset.duration;
  drawSeams(ctx, canvas, seams, duration);  // at once, from the EDL; the waveform follows
  try {
    const buf = await (await fetch(url)).arrayBuffer();
    const AC = window.AudioContext || window.webkitAudioContext;
    const audio = await new AC().decodeAudioData(buf);
    const data = audio.getChannelData(0);
    const w = canvas.width, h = canvas.height, step = Math.max(1, Math.floor(data.length / w));
    const peaks = new Float32Array(2 * w);
    for (let x = 0; x < w; x++) {
      let lo = 1, hi = -1;
      for (let i = x * step; i < Math.min(data.length, (x + 1) * step); i++) { const v = data[i]; if (v < lo) lo = v; if (v > hi) hi = v; }
      peaks[2 * x] = (1 - hi) * h / 2;
      peaks[2 * x + 1] = Math.max(1, (hi - lo) * h / 2);
    }
    duration = audio.duration;
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.fillStyle = "#58a";
    for (let x = 0; x < w; x++) ctx.fillRect(x, peaks[2 * x], 1, peaks[2 * x + 1]);
  } catch (e) { /* the seams are still drawn */ }
  drawSeams(ctx, canvas, seams, duration);
  canvas.dataset.duration = duration;
}

function drawKept(canvas, edl) {
  // The whole source song as a grey bar; what the edit keeps in colour (darker where it plays a part twice).
  const ctx = canvas.getContext("2d"), w = canvas.width, h = canvas.height;
  const total = edl.source_duration_s || (edl.segments || []).reduce((d, s) => Math.max(d, s.src_end_s), 0) || 1;
  ctx.clearRect(0, 0, w, h);
  ctx.fillStyle = "#ddd";
  ctx.fillRect(0, 0, w, h);
  ctx.fillStyle = "rgba(40, 120, 200, 0.6)";
  for (const s of edl.segments || []) ctx.fillRect(Math.floor(s.src_start_s / total * w), 0, Math.max(1, Math.ceil((s.src_end_s - s.src_start_s) / total * w)), h);
  canvas.dataset.kept = (edl.segments || []).length;
}

function setupPlayer(side, cand) {
  const root = $("#player-" + side);
  const audio = $("audio", root);
  audio.src = cand.audio_url;
  const seams = seamsOf(cand.edl);
  const duration = (cand.edl.segments || []).reduce((d, s) => Math.max(d, s.out_start_s + s.src_end_s - s.src_start_s), 0);
  drawWave($("canvas.wave", root), cand.audio_url, seams, duration || 1);
  drawKept($("canvas.strip", root), cand.edl);
  const box = $(".seams", root);
  box.innerHTML = seams.length ? "jump to just before a seam: " : "no seams (one continuous stretch)";
  seams.forEach((t, k) => {
    const b = document.createElement("button");
    b.textContent = `seam ${k + 1} (${t.toFixed(1)} s)`;
    b.className = "seam";
    b.onclick = () => { audio.currentTime = Math.max(0, t - 2); audio.play(); };
    box.appendChild(b);
  });
  root.dataset.candidate = cand.candidate_id;
}

function togglePlay(side) {
  const a = $("#player-" + side + " audio"), other = $("#player-" + (side === "a" ? "b" : "a") + " audio");
  other.pause();
  if (a.paused) a.play(); else a.pause();
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
  setupPlayer("a", state.pair.a);
  setupPlayer("b", state.pair.b);
}

async function submit() {
  if (!state.pair || !state.pref) { setStatus("choose A, B or about the same first", true); return; }
  const body = {
    pair_id: state.pair.pair_id, preference: state.pref, rater_id: $("#rater").value.trim(),
    strength: Number(document.querySelector("input[name=strength]:checked").value), notes: $("#notes").value, idempotency_key: state.key,
  };
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
  document.querySelectorAll(".choice button").forEach((b) => (b.onclick = () => choose(b.dataset.pref)));
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
