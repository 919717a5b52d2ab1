#!/usr/bin/env bash
# More real recordings for training the learned beat tracker (scripts/train_beat_tracker.py --extra):
# the music of Debian's ufoai-music, warzone2100-music, xblast-tnt-musics, supertuxkart-data,
# openarena-data, hedgewars-data, xmoto-data, chromium-bsu-data, frozen-bubble-data and
# freedroidrpg-data (`apt-get download` + `dpkg -x`; ≈ 1.4 GB of packages; nothing is committed).
# Every Ogg/FLAC/WAV/MP3 file in a package (and in Quake-style .pk3 archives) from 20 s to 20 min
# long is a track — shorter files are sound effects. Tracks go to
#   DEST/train/<package>-<track>.<ext>     and     DEST/heldout/<package>-<track>.<ext>
# split by a hash of the name (one in four held out, as fetch_real_music.sh does), with
# DEST/manifest.json. Packages already listed in the manifest are not fetched again, so the
# script can be rerun with more packages. These tracks are for training only: the benchmarks'
# held-out recordings stay fetch_real_music.sh's.
# Usage: bash scripts/fetch_training_music.sh [DEST]     (default .cache/training-music; needs .venv)
#        PACKAGES="xmoto-data hedgewars-data" bash scripts/fetch_training_music.sh   (a subset)
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:-.cache/training-music}
PY=$(pwd)/.venv/bin/python
[ -x "$PY" ] || { echo "fetch_training_music: run scripts/bootstrap.sh first (needs .venv)" >&2; exit 1; }
packages=${PACKAGES:-"ufoai-music warzone2100-music xblast-tnt-musics supertuxkart-data openarena-data hedgewars-data xmoto-data chromium-bsu-data frozen-bubble-data freedroidrpg-data"}
mkdir -p "$dest"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for p in $packages; do
  if [ -f "$dest/manifest.json" ] && grep -q "\"package\": \"$p\"" "$dest/manifest.json"; then echo "$p: already fetched"; continue; fi
  (cd "$work" && apt-get download "$p" >/dev/null 2>&1) || { apt-get update -qq && (cd "$work" && apt-get download "$p"); }
  dpkg -x "$work"/${p}_*.deb "$work/x-$p"
  mkdir -p "$work/raw/$p"
  cp "$work/x-$p/usr/share/doc/$p/copyright" "$work/raw/$p/COPYRIGHT" 2>/dev/null || true
  find "$work/x-$p" -type f \( -iname '*.ogg' -o -iname '*.flac' -o -iname '*.wav' -o -iname '*.mp3' -o -iname '*.pk3' \) | while read -r f; do
    case "$f" in
      *.pk3) (cd "$work/raw/$p" && "$PY" -c "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); [open(n.replace('/', '_'), 'wb').write(z.read(n)) for n in z.namelist() if n.lower().endswith('.ogg')]" "$f") ;;
      *) out="$work/raw/$p/$(basename "$f")"
         [ -e "$out" ] && out="$work/raw/$p/$(basename "$(dirname "$f")")_$(basename "$f")"
         cp "$f" "$out" ;;
    esac
  done
  rm -rf "$work/x-$p" "$work"/${p}_*.deb
done
"$PY" - "$work/raw" "$dest" <<'EOF'
import hashlib, json, shutil, sys
from pathlib import Path
import soundfile as sf
raw, dest = Path(sys.argv[1]), Path(sys.argv[2])
manifest = dest / "manifest.json"
tracks = json.loads(manifest.read_text())["tracks"] if manifest.is_file() else []
for split in ("train", "heldout", "licences"):
    (dest / split).mkdir(parents=True, exist_ok=True)
for pkg in sorted(p for p in raw.iterdir() if p.is_dir()) if raw.is_dir() else []:
    if (pkg / "COPYRIGHT").is_file():
        shutil.copy(pkg / "COPYRIGHT", dest / "licences" / f"{pkg.name}.txt")
    before = len(tracks)
    for f in sorted(pkg.iterdir()):
        if f.suffix.lower() not in (".ogg", ".flac", ".wav", ".mp3"):
            continue
        try:
            duration = sf.info(str(f)).duration
        except RuntimeError as exc:  # a format libsndfile cannot read: listed, not used
            tracks.append({"track": f.name, "package": pkg.name, "split": "skipped", "why": str(exc)[:120]})
            continue
        name = f"{pkg.name}-{f.stem.replace('_', '-').strip('-')}{f.suffix.lower()}"
        row = {"track": name, "package": pkg.name, "duration_s": round(duration, 2), "licence": f"licences/{pkg.name}.txt"}
        if not 20.0 <= duration <= 1200.0:
            tracks.append(row | {"split": "skipped", "why": "shorter than 20 s" if duration < 20 else "longer than 20 min"})
            continue
        split = "heldout" if int(hashlib.sha256(name.encode()).hexdigest(), 16) % 4 == 0 else "train"
        shutil.copy(f, dest / split / name)
        tracks.append(row | {"split": split})
    if len(tracks) == before:  # listed, so a rerun does not fetch it again
        tracks.append({"track": None, "package": pkg.name, "split": "skipped", "why": "no audio file libsndfile reads"})
manifest.write_text(json.dumps({"tracks": tracks}, indent=1))
for split in ("train", "heldout"):
    rows = [t for t in tracks if t["split"] == split]
    print(f"{split:8s} {len(rows):3d} tracks, {sum(t['duration_s'] for t in rows) / 60:6.1f} min")
print(f"skipped  {sum(t['split'] == 'skipped' for t in tracks):3d} files (sound effects, too long, unreadable)")
EOF
echo "training music in $dest"
