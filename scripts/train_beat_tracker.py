"""Train the learned beat and downbeat tracker (:mod:`editor_rl.audio.learned_tracker`) and write
its weights into the package.

Teachers: madmom's RNN + DBN on the real recordings this project may train on (beats, bar lines
and madmom's frame activations, computed once per file and cached in ``.cache/madmom``; madmom is
needed only here, ``pip install -e '.[reference]'``), and the synthetic songs' true beats and bar
lines. Held out for the benchmark: the tracks ``scripts/fetch_real_music.sh`` puts under
``heldout/`` (a fixed hash of each name) are not read at all; every eighth training recording (by
name) is kept out of training and picks the best checkpoint.
Augmentation on the spectrogram: tempo (time stretch 0.8–1.25×), pitch (mel bands shifted by up
to ±2) and gain (±6 dB).

Run:  bash scripts/fetch_real_music.sh && .venv/bin/python scripts/train_beat_tracker.py
      [--real .cache/real-music] [--extra .cache/training-music] [--synthetic 48] [--minutes 20]
      [--out editor_rl/audio/models/beat_tcn.pt]
(``--extra``: more recordings, ``bash scripts/fetch_training_music.sh``; madmom labels each once,
at about 1/7 of real time per core, before training starts.)

Progress goes to stdout; ``<out>.json`` records the data, the settings, the held-out scores and
the commit.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import mir_eval
import numpy as np
import torch

from editor_rl.audio import learned_tracker as lt
from editor_rl.audio.io import decode_audio, to_analysis_signal
from editor_rl.audio.reference import activations_file, madmom_reference
from editor_rl.audio.synth import write_corpus

ROOT = Path(__file__).resolve().parents[1]
AUDIO = (".ogg", ".flac", ".wav", ".mp3")


@dataclass
class Track:
    """One training or validation song: mel magnitudes, its beats and bar lines, madmom's activations (or None)."""

    name: str
    mel: np.ndarray  # (N_MELS, T) at lt.FPS
    beats_s: np.ndarray
    downbeats_s: np.ndarray
    teacher: np.ndarray | None  # (frames, 2) at 100 fps


def mel_of(path: Path) -> np.ndarray:
    """Mel magnitudes of a file at the tracker's rate, (N_MELS, T)."""
    return lt.mel_bands(to_analysis_signal(decode_audio(path), sample_rate=lt.SAMPLE_RATE))


def real_tracks(files: list[Path], *, cache: Path, teacher: bool, say) -> list[Track]:
    """The recordings with madmom's reference (computed and cached when missing)."""
    out = []
    for i, p in enumerate(files):
        d = madmom_reference(p, cache_dir=cache, keep_activations=teacher)
        beats, pos = np.asarray(d["beats"]), np.asarray(d["position"])
        act = np.load(activations_file(p, cache_dir=cache)).astype(np.float32) if teacher else None
        out.append(Track(p.name, mel_of(p), beats, beats[pos == 1], act))
        say(f"  {i + 1}/{len(files)} {p.name}")
    return out


def synthetic_tracks(n: int, *, seed: int, say) -> list[Track]:
    """``n`` synthetic songs with their true beats and bar lines (made in a temporary folder)."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for p in write_corpus(tmp, n=n, seed=seed):
            t = json.loads(p.with_suffix(".truth.json").read_text())
            out.append(Track(p.name, mel_of(p), np.asarray(t["beats_s"]), np.asarray(t["downbeats_s"]), None))
        say(f"  {n} synthetic songs")
    return out


def targets(times_s: np.ndarray, n: int) -> np.ndarray:
    """Frame targets of events at ``times_s`` over ``n`` frames at lt.FPS: 1 at the nearest frame, 0.5 beside it."""
    y = np.zeros(n, np.float32)
    f = np.rint(times_s * lt.FPS).astype(int)
    for off, v in ((-1, 0.5), (1, 0.5), (0, 1.0)):
        g = f + off
        g = g[(g >= 0) & (g < n)]
        y[g] = np.maximum(y[g], v)
    return y


def chunk(t: Track, *, frames: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One augmented excerpt: features (frames, 2 N_MELS), label targets (frames, 2), teacher targets
    (frames, 2) and the teacher's mask (frames,) — 0 where the song has no teacher."""
    stretch = float(np.exp(rng.uniform(np.log(0.8), np.log(1.25))))  # > 1: the excerpt plays faster
    src_frames = t.mel.shape[1]
    span = frames * stretch
    start = rng.uniform(0, max(src_frames - span, 0))
    pos = start + np.arange(frames) * stretch  # source frame of each output frame
    valid = pos <= src_frames - 1
    lo = np.minimum(np.floor(pos).astype(int), src_frames - 1)
    hi = np.minimum(lo + 1, src_frames - 1)
    w = (pos - lo)[None, :]
    mel = t.mel[:, lo] * (1 - w) + t.mel[:, hi] * w
    mel[:, ~valid] = 0.0
    shift = int(rng.integers(-2, 3))
    mel = np.roll(mel, shift, axis=0)
    if shift > 0:
        mel[:shift] = 0.0
    elif shift < 0:
        mel[shift:] = 0.0
    mel = mel * 10 ** (rng.uniform(-6, 6) / 20)
    t0 = start / lt.FPS

    def out_times(times: np.ndarray) -> np.ndarray:
        return (times - t0) / stretch

    labels = np.stack([targets(out_times(t.beats_s), frames), targets(out_times(t.downbeats_s), frames)], axis=1)
    teacher, mask = np.zeros((frames, 2), np.float32), np.zeros(frames, np.float32)
    if t.teacher is not None:
        idx = np.rint((t0 + np.arange(frames) * stretch / lt.FPS) * 100).astype(int)
        ok = valid & (idx < len(t.teacher))
        teacher[ok] = t.teacher[idx[ok]]
        mask[ok] = 1.0
    return lt.features_of(mel), labels, teacher, mask


def scores(model: lt.TCN, tracks: list[Track]) -> dict:
    """Mean beat F and downbeat F (mir_eval, ±70 ms) of the decoded tracks against each track's reference."""
    model.eval()
    fb, fd = [], []
    with torch.inference_mode():
        for t in tracks:
            act = torch.sigmoid(model(torch.from_numpy(lt.features_of(t.mel))[None])[0]).numpy().astype(np.float64)
            got = lt.decode(act, beats_per_bar=4)
            est_down = got.beats_s[got.bar_pos == 0]
            fb.append(mir_eval.beat.f_measure(mir_eval.beat.trim_beats(t.beats_s), mir_eval.beat.trim_beats(got.beats_s)))
            fd.append(mir_eval.beat.f_measure(mir_eval.beat.trim_beats(t.downbeats_s), mir_eval.beat.trim_beats(est_down)))
    model.train()
    return {"beat_f": float(np.mean(fb)), "downbeat_f": float(np.mean(fd)), "tracks": len(tracks)}


def train(model: lt.TCN, data: list[Track], val: list[Track], *, minutes: float, batch: int, frames: int, lr: float, seed: int, say) -> tuple[dict, dict]:
    """AdamW on binary cross-entropy against the labels and (where there is one) madmom's activations,
    the learning rate decaying (cosine) until ``minutes`` have passed; the best validation state
    (beat F + downbeat F) is returned."""
    rng = np.random.default_rng(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    bce = torch.nn.BCEWithLogitsLoss(reduction="none")
    weights = np.asarray([len(t.beats_s) for t in data], float)
    weights /= weights.sum()
    best, best_state, step, t_start = {"beat_f": -1.0, "downbeat_f": -1.0}, None, 0, time.time()
    while (frac := (time.time() - t_start) / (60 * minutes)) < 1:
        for group in opt.param_groups:  # cosine decay over the run's time
            group["lr"] = lr * 0.5 * (1 + np.cos(np.pi * frac))
        parts = [chunk(data[i], frames=frames, rng=rng) for i in rng.choice(len(data), size=batch, p=weights)]
        x, y, teacher, mask = (torch.from_numpy(np.stack(p)) for p in zip(*parts))
        logits = model(x)
        loss = bce(logits, y).mean() + (bce(logits, teacher).mean(dim=2) * mask).sum() / mask.sum().clamp(min=1.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 200 == 0:
            s = scores(model, val)
            better = s["beat_f"] + s["downbeat_f"] > best["beat_f"] + best["downbeat_f"]
            if better:
                best, best_state = s | {"step": step}, {k: v.detach().clone() for k, v in model.state_dict().items()}
            say(f"step {step}: loss {loss.item():.4f}; validation beat F {s['beat_f']:.3f} downbeat F {s['downbeat_f']:.3f}{' (best)' if better else ''}")
    if best_state is None:  # too short a run for one evaluation: the last state, scored
        best, best_state = scores(model, val) | {"step": step}, model.state_dict()
    return best, best_state


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", default=str(ROOT / ".cache" / "real-music"))
    ap.add_argument("--references", default=str(ROOT / ".cache" / "madmom"))
    ap.add_argument("--extra", action="append", default=[], metavar="DIR",
                    help="more recordings to train on: DIR/train/* (scripts/fetch_training_music.sh; repeatable)")
    ap.add_argument("--synthetic", type=int, default=48, help="synthetic songs beside the recordings")
    ap.add_argument("--minutes", type=float, default=20.0, help="training time")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--frames", type=int, default=1000, help="excerpt length, frames (20 s)")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--val-every", type=int, default=8, help="every n-th training recording (by name) picks the checkpoint instead")
    ap.add_argument("--max-tracks", type=int, default=0, help="use only the first n training recordings (0: all; for a quick try)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(lt.WEIGHTS))
    ap.add_argument("--init", default="", help="start from these weights (to train on) instead of from scratch")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    say = lambda m: print(m, flush=True)  # noqa: E731
    real, cache = Path(args.real), Path(args.references)
    if not (real / "train").is_dir():
        raise SystemExit(f"no real recordings in {real}: run scripts/fetch_real_music.sh first")
    say("data: the recordings (madmom's references, cached) and the synthetic songs")
    files = sorted(p for p in (real / "train").glob("*") if p.suffix in AUDIO)[: args.max_tracks or None]
    val = real_tracks(files[:: args.val_every], cache=cache, teacher=False, say=say)
    extra = [p for d in args.extra for p in sorted((Path(d) / "train").glob("*")) if p.suffix in AUDIO]
    data = real_tracks([p for k, p in enumerate(files) if k % args.val_every] + extra, cache=cache, teacher=True, say=say)
    data += synthetic_tracks(args.synthetic, seed=7919 + args.seed, say=say)
    model = lt.TCN()
    if args.init:
        model.load_state_dict({k: v.float() for k, v in torch.load(args.init, map_location="cpu", weights_only=True)["state_dict"].items()})
    say(f"model: {sum(p.numel() for p in model.parameters())} parameters; {len(data)} training songs, {len(val)} held out")
    best, state = train(model, data, val, minutes=args.minutes, batch=args.batch, frames=args.frames, lr=args.lr, seed=args.seed, say=say)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": model.config, "state_dict": {k: v.half() if v.is_floating_point() else v for k, v in state.items()}}, out)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    report = {"validation": best, "train_songs": [t.name for t in data], "validation_songs": [t.name for t in val], "settings": vars(args), "commit": commit,
              "parameters": sum(p.numel() for p in model.parameters())}
    out.with_suffix(".json").write_text(json.dumps(report, indent=1))
    say(f"wrote {out} ({out.stat().st_size // 1024} KiB): validation beat F {best['beat_f']:.3f}, downbeat F {best['downbeat_f']:.3f}")


if __name__ == "__main__":
    sys.exit(main())
