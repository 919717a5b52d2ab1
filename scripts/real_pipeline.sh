#!/usr/bin/env bash
# Train on real recordings and judge on real recordings the run never saw (configs/real.yaml).
#
#   bash scripts/fetch_real_music.sh            # once: .cache/real-music/{train,heldout}
#   bash scripts/real_pipeline.sh [REAL_DIR] [N_SYNTHETIC]
#   REAL_WORK=runs/real_madmom REAL_SET=beats.tracker=madmom bash scripts/real_pipeline.sh
#                                                # another work folder, one config field set throughout
#   SHIP=1 bash scripts/real_pipeline.sh          # and ship checkpoints/best + its reward model as the package's
#                                                # default model (editor_rl/policy/default_model, scripts/ship_model.py)
#
# 1. songs: the real training tracks but the first 4 (runs/real/songs, links) plus N_SYNTHETIC
#    synthetic songs (default 16); those 4 real tracks choose checkpoints/best (runs/real/validation);
# 2. the reward model pretrained on 1 500 pairs of those songs judged by the mixture of tastes;
# 3. behaviour cloning of the search, then PPO against the reward (KL to the clone);
# 4. `editor-rl evaluate` of checkpoints/best on the held-out real tracks at 30 s and 60 s: every
#    panel taste judges it against random, every other phrase, the plain cut and the search.
set -euo pipefail
cd "$(dirname "$0")/.."
REAL=${1:-.cache/real-music}
N_SYNTH=${2:-16}
W=${REAL_WORK:-runs/real}
CFG=configs/real.yaml
ER=".venv/bin/editor-rl"
SET=(--set run.work_dir="$W" --set run.heldout_dir="$W/validation")
[ -z "${REAL_SET:-}" ] || SET+=(--set "$REAL_SET")
[ -d "$REAL/train" ] && [ -d "$REAL/heldout" ] || { echo "real_pipeline: $REAL/train and $REAL/heldout not found; run scripts/fetch_real_music.sh" >&2; exit 2; }

mkdir -p "$W/songs" "$W/validation"
i=0
for f in "$REAL"/train/*; do
  case "$f" in *.ogg|*.flac|*.wav|*.mp3) ;; *) continue ;; esac
  if [ $i -lt 4 ]; then dest="$W/validation"; else dest="$W/songs"; fi
  ln -sfn "$(realpath "$f")" "$dest/$(basename "$f")"
  i=$((i + 1))
done
[ -d "$W/synthetic" ] || $ER synth --config "$CFG" "${SET[@]}" --n "$N_SYNTH" --seed 4242 --out "$W/synthetic"
for f in "$W"/synthetic/*; do ln -sfn "$(realpath "$f")" "$W/songs/$(basename "$f")"; done
echo "real_pipeline: $(ls "$W/songs" | grep -vc truth) training songs, $(ls "$W/validation" | wc -l) validation tracks"

[ -f "$W/reward/reward.pt" ] || $ER reward pretrain --config "$CFG" "${SET[@]}" --songs "$W/songs" --pairs 1500 --out "$W/reward/reward.pt"
[ -d "$W/checkpoints/bc" ] || $ER train --config "$CFG" "${SET[@]}" --algorithm bc --songs "$W/songs"
$ER train --config "$CFG" "${SET[@]}" --songs "$W/songs" --resume --set rl.reward_checkpoint="$W/reward/reward.pt" --set rl.init_policy="$W/checkpoints/bc"
$ER evaluate --config "$CFG" "${SET[@]}" --checkpoint "$W/checkpoints/best" --songs "$REAL/heldout" --out "$W/report" \
  --set rl.reward_checkpoint="$W/reward/reward.pt"
echo "real_pipeline: report in $W/report/report.md"
[ -z "${SHIP:-}" ] || .venv/bin/python scripts/ship_model.py "$W" --command "SHIP=1 bash scripts/real_pipeline.sh $REAL $N_SYNTH"
