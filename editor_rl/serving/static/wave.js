// editor-rl's players, shared by the feedback page (app.js) and the edit page (edit.js): an edit's
// waveform with its seams marked, the strip of the song it keeps, buttons to jump to each seam.
// Loads nothing from outside this server.
"use strict";
const $ = (sel, root = document) => root.querySelector(sel);

function uuid() {
  return (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random().toString(16).slice(2));
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

function setupPlayer(root, cand) {
  // One edit in a player box: its audio, waveform with the seams marked, the strip of what it keeps, a button per seam.
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
  root.dataset.candidate = cand.candidate_id || "";
}

