#!/usr/bin/env bash
# Recordings for choosing the service's settings (best of N's candidates) without touching the
# benchmarks' held-out tracks: 16 of fetch_training_music.sh's training tracks (every 7th by name,
# from the 3rd) — tracks the shipped model never trained on — linked into DEST, with madmom's
# reference annotations cached in .cache/madmom (≈ 6 min on one core). Then, e.g.:
#   .venv/bin/python bench/bench_shipped.py --real .cache/pick-validation --work /tmp/val --set pick.window_spacing=0
# Usage: bash scripts/pick_validation.sh [DEST]     (default .cache/pick-validation; needs .venv and
#        scripts/fetch_training_music.sh's tracks)
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:-.cache/pick-validation}
src=.cache/training-music/train
[ -d "$src" ] || { echo "pick_validation: $src not found; run scripts/fetch_training_music.sh" >&2; exit 2; }
mkdir -p "$dest"
ls "$src" | LC_ALL=C sort | awk 'NR % 7 == 3' | head -16 | while read -r f; do ln -sfn "$(realpath "$src/$f")" "$dest/$f"; done
.venv/bin/python bench/reference_trackers.py "$dest"/*
