#!/usr/bin/env bash
# Fetch real recordings (Debian's drascula-music: 31 OGG game-music tracks, GPL) into
# .cache/real-music/ for the real-recording beat benchmark. Nothing here is committed.
# Usage: bash scripts/fetch_real_music.sh [DEST]
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:-.cache/real-music}
if ls "$dest"/*.ogg >/dev/null 2>&1; then echo "real music already in $dest"; exit 0; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download drascula-music >/dev/null 2>&1) || { apt-get update -qq && (cd "$work" && apt-get download drascula-music); }
dpkg -x "$work"/drascula-music_*.deb "$work/x"
mkdir -p "$dest"
cp "$work"/x/usr/share/scummvm/drascula/audio/*.ogg "$dest"/
cp "$work"/x/usr/share/doc/drascula-music/copyright "$dest"/COPYRIGHT
echo "fetched $(ls "$dest"/*.ogg | wc -l) tracks into $dest"
