#!/usr/bin/env bash
# Fetch the real recordings editor-rl trains and tests on: Debian's game-music packages
# drascula-music, fb-music-high, hyperrogue-music, nexuiz-music and planetblupi-music-ogg
# (`apt-get download` + `dpkg -x`, free licences; nothing here is committed). Tracks go to
#   DEST/train/<package>-<track>.<ext>     and     DEST/heldout/<package>-<track>.<ext>
# split by file (a hash of the name, about one track in four held out, per package), with
# DEST/manifest.json listing every track: package, duration, split, licence file. Tracks shorter
# than 20 s or longer than 20 min (editor-rl's limit) are listed as skipped. frozen-bubble's music
# is a tracker module (.xm): it is rendered to FLAC with Debian's openmpt123 when that is installed.
# Usage: bash scripts/fetch_real_music.sh [DEST]     (default .cache/real-music; needs .venv)
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:-.cache/real-music}
if [ -f "$dest/manifest.json" ]; then echo "real music already in $dest ($(ls "$dest"/train "$dest"/heldout | grep -c '\.'))"; exit 0; fi
PY=$(pwd)/.venv/bin/python
[ -x "$PY" ] || { echo "fetch_real_music: run scripts/bootstrap.sh first (needs .venv)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
packages="drascula-music fb-music-high hyperrogue-music nexuiz-music planetblupi-music-ogg"
(cd "$work" && apt-get download $packages >/dev/null 2>&1) || { apt-get update -qq && (cd "$work" && apt-get download $packages); }
mkdir -p "$work/raw"
for p in $packages; do
  dpkg -x "$work"/${p}_*.deb "$work/x-$p"
  short=${p%%-music*}
  mkdir -p "$work/raw/$short"
  cp "$work/x-$p/usr/share/doc/$p/copyright" "$work/raw/$short/COPYRIGHT"
  find "$work/x-$p" -type f \( -path '*/music/*.ogg' -o -path '*/drascula/audio/*.ogg' -o -name '*.xm' -o -name 'music.pk3' \) | while read -r f; do
    case "$f" in
      *.pk3) (cd "$work/raw/$short" && "$PY" -c "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); [open(n.rsplit('/', 1)[1], 'wb').write(z.read(n)) for n in z.namelist() if n.endswith('.ogg')]" "$f") ;;
      *.xm) if command -v openmpt123 >/dev/null; then
              openmpt123 --quiet --render --output-type wav "$f" >/dev/null 2>&1 && mv "$f.wav" "$work/raw/$short/$(basename "$f" .xm).wav"
            else echo "fetch_real_music: openmpt123 is not installed; skipping $(basename "$f")" >&2; fi ;;
      *) cp "$f" "$work/raw/$short/" ;;
    esac
  done
done
"$PY" - "$work/raw" "$dest" <<'EOF'
import hashlib, json, shutil, sys
from pathlib import Path
import soundfile as sf
raw, dest = Path(sys.argv[1]), Path(sys.argv[2])
for split in ("train", "heldout"):
    (dest / split).mkdir(parents=True, exist_ok=True)
tracks = []
for pkg in sorted(p for p in raw.iterdir() if p.is_dir()):
    (dest / "licences").mkdir(exist_ok=True)
    shutil.copy(pkg / "COPYRIGHT", dest / "licences" / f"{pkg.name}.txt")
    for f in sorted(pkg.iterdir()):
        if f.suffix not in (".ogg", ".wav"):
            continue
        duration = sf.info(str(f)).duration
        name = f"{pkg.name}-{f.stem.replace('_', '-').strip('-')}"
        if f.suffix == ".wav":  # a rendered tracker module: keep it small
            data, sr = sf.read(str(f))
            out_name, write = name + ".flac", lambda p, d=data, r=sr: sf.write(str(p), d, r, format="FLAC")
        else:
            out_name, write = name + f.suffix, lambda p, src=f: shutil.copy(src, p)
        row = {"track": out_name, "package": pkg.name, "duration_s": round(duration, 2), "licence": f"licences/{pkg.name}.txt"}
        if not 20.0 <= duration <= 1200.0:
            tracks.append(row | {"split": "skipped", "why": "shorter than 20 s" if duration < 20 else "longer than 20 min"})
            continue
        split = "heldout" if int(hashlib.sha256(out_name.encode()).hexdigest(), 16) % 4 == 0 else "train"
        write(dest / split / out_name)
        tracks.append(row | {"split": split})
(dest / "manifest.json").write_text(json.dumps({"tracks": tracks}, indent=1))
for split in ("train", "heldout", "skipped"):
    rows = [t for t in tracks if t["split"] == split]
    print(f"{split:8s} {len(rows):3d} tracks, {sum(t['duration_s'] for t in rows) / 60:6.1f} min: " + ", ".join(t["track"] for t in rows))
EOF
echo "real music in $dest"
