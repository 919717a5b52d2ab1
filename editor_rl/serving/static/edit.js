// editor-rl edit page: upload or pick a song, a length and a mood; hear the edit with its seams,
// download it (WAV and EDL), ask for another one and say which is better — and, asked for a mood,
// which fits it better (a judgement like any other; the mood answer teaches the rater's own sense of it).
// Needs wave.js (the players). Loads nothing from outside this server.
"use strict";
const MOODS = ["calm", "energetic", "dark", "bright", "tense", "uplifting"];
const state = { first: null, second: null, pairId: null, pref: null, moodPref: null, key: null, edlUrls: [] };

function say(msg, error = false) {
  const s = $("#status");
  s.textContent = msg;
  s.className = error ? "error" : "";
}

function auth() {
  return { "Authorization": "Bearer " + $("#token").value.trim() };
}

function detail(out) {
  return typeof out.detail === "string" ? out.detail : JSON.stringify(out.detail);
}

function show(root, edit) {
  // An edit in its player, with links to download its audio and its EDL.
  root.hidden = false;
  setupPlayer(root, { audio_url: edit.audio_url, edl: edit.edl });
  const mood = edit.edl.mood ? `, ${edit.edl.mood.name || `arousal ${edit.edl.mood.arousal}, valence ${edit.edl.mood.valence}`}` : "";
  $(".what", root).textContent = `${edit.duration_s.toFixed(1)} s of ${edit.song_id}${mood} · ${edit.edl.segments.length - 1} seam(s) · model ${edit.model_version}`;
  const wav = $("a.wav", root), edl = $("a.edl", root);
  wav.href = edit.audio_url;
  wav.download = `${edit.song_id}-${edit.edit_id}.wav`;
  const url = URL.createObjectURL(new Blob([JSON.stringify(edit.edl, null, 1)], { type: "application/json" }));
  state.edlUrls.push(url);
  edl.href = url;
  edl.download = `${edit.song_id}-${edit.edit_id}.edl.json`;
  root.dataset.editId = edit.edit_id;
}

async function make() {
  const file = $("#file").files[0], stored = $("#stored").value, seconds = $("#seconds").value, mood = $("#mood").value;
  if (!file && !stored) { say("choose a song: upload one or pick a stored one", true); return; }
  state.edlUrls.forEach((u) => URL.revokeObjectURL(u));
  Object.assign(state, { first: null, second: null, pairId: null, pref: null, moodPref: null, edlUrls: [] });
  $("#edit-a").hidden = $("#edit-b").hidden = $("#judge").hidden = true;
  $("#another").disabled = true;
  say(file ? `uploading ${file.name} and editing…` : "editing…");
  let r;
  if (file) {
    const form = new FormData();
    form.append("audio", file);
    form.append("target_seconds", seconds);
    if (mood) form.append("mood", mood);
    r = await fetch("/api/edit", { method: "POST", headers: auth(), body: form });
  } else {
    const body = { song_id: stored, target_seconds: Number(seconds) };
    if (mood) body.mood = mood;
    r = await fetch("/api/edit", { method: "POST", headers: { ...auth(), "Content-Type": "application/json" }, body: JSON.stringify(body) });
  }
  const out = await r.json();
  if (!r.ok) { say(`no edit (${r.status}): ${detail(out)}`, true); return; }
  state.first = out;
  show($("#edit-a"), out);
  $("#another").disabled = false;
  say("here it is");
}

async function another() {
  if (!state.first) return;
  say("making another one…");
  const body = { edit_id: state.first.edit_id };
  if ($("#rater").value.trim()) body.rater_id = $("#rater").value.trim();
  const r = await fetch("/api/edit/another", { method: "POST", headers: { ...auth(), "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const out = await r.json();
  if (!r.ok) { say(`no other edit (${r.status}): ${detail(out)}`, true); return; }
  state.second = out.edit;
  state.pairId = out.pair_id;
  state.key = uuid();
  show($("#edit-b"), out.edit);
  const mood = state.first.edl.mood, named = mood ? (mood.name || `arousal ${mood.arousal}, valence ${mood.valence}`) : "";
  $("#question").textContent = mood ? `Which of the two do you like better, as a ${named} edit?` : "Which of the two do you like better?";
  $(".mood-choice").hidden = !mood;
  $("#mood-question").textContent = `Which sounds more ${named}?`;
  $("#judge").hidden = false;
  $("#another").disabled = true;
  say("two edits: listen to both and say which you like better");
}

function chooseMood(pref) {
  state.moodPref = pref;
  document.querySelectorAll("#judge .mood-choice button").forEach((b) => b.classList.toggle("selected", b.dataset.moodPref === pref));
}

function choose(pref) {
  state.pref = pref;
  document.querySelectorAll("#judge .choice button").forEach((b) => b.classList.toggle("selected", b.dataset.pref === pref));
  $("#submit").disabled = !state.pairId;
}

async function submit() {
  if (!state.pairId || !state.pref) return;
  const body = { pair_id: state.pairId, preference: state.pref, strength: Number(document.querySelector("input[name=strength]:checked").value),
                 idempotency_key: state.key };
  if ($("#rater").value.trim()) body.rater_id = $("#rater").value.trim();
  if (state.moodPref) body.mood_preference = state.moodPref;
  const r = await fetch("/api/feedback/submit", { method: "POST", headers: { ...auth(), "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const out = await r.json();
  $("#judged").textContent = r.ok ? "thank you: saved, it teaches the next version" : `not saved (${r.status}): ${detail(out)}`;
  $("#judged").className = r.ok ? "" : "error";
  $("#judged").dataset.saved = r.ok ? "1" : "0";
}

async function loadSongs() {
  const r = await fetch("/api/songs");
  if (!r.ok) return;
  for (const id of (await r.json()).songs) $("#stored").add(new Option(id, id));
}

function init() {
  // The name may come in the link (?rater=…); the token never does (it would land in logs and history).
  for (const k of ["rater", "token"]) {
    const el = $("#" + k);
    el.value = localStorage.getItem("editor-rl-" + k) || (k === "rater" ? new URLSearchParams(location.search).get(k) : "") || "";
    el.addEventListener("change", () => localStorage.setItem("editor-rl-" + k, el.value));
  }
  for (const m of MOODS) $("#mood").add(new Option(m, m));
  $("#file").onchange = () => { if ($("#file").files.length) $("#stored").value = ""; };
  $("#stored").onchange = () => { if ($("#stored").value) $("#file").value = ""; };
  document.querySelectorAll(".player").forEach((p) => {
    const audio = $("audio", p);
    $(".play", p).onclick = () => {
      document.querySelectorAll("audio").forEach((x) => { if (x !== audio) x.pause(); });
      if (audio.paused) audio.play(); else audio.pause();
    };
    audio.ontimeupdate = () => ($(".time", p).textContent = audio.currentTime.toFixed(1) + " s");
    $("canvas.wave", p).onclick = (e) => {
      const d = Number(e.target.dataset.duration || 0);
      audio.currentTime = d * e.offsetX / e.target.clientWidth; audio.play();
    };
  });
  document.querySelectorAll("#judge .choice button[data-pref]").forEach((b) => (b.onclick = () => choose(b.dataset.pref)));
  document.querySelectorAll("#judge .mood-choice button").forEach((b) => (b.onclick = () => chooseMood(b.dataset.moodPref)));
  $("#make").onclick = make;
  $("#another").onclick = another;
  $("#submit").onclick = submit;
  loadSongs();
}
init();
