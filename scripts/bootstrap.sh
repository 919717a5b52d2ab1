#!/usr/bin/env bash
# Create or reuse .venv/ at the repo root and install editor-rl into it (editable, with test extras).
# Idempotent: a stamp keyed by pyproject.toml's hash skips the install when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if [ ! -x .venv/bin/python ]; then
  echo "[bootstrap] creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
# The web UI's browser tests drive Debian's Chromium (no browser download at run time), the
# preference store's PostgreSQL backend is tested against a throwaway Debian PostgreSQL server, the
# MP3 tests encode real recordings with Debian's lame, and scripts/fetch_real_music.sh renders a
# tracker module with openmpt123.
missing=""
[ -x /usr/bin/chromium ] || missing="$missing chromium"
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$missing postgresql"
command -v lame >/dev/null || missing="$missing lame"
command -v openmpt123 >/dev/null || missing="$missing openmpt123"
if [ -n "$missing" ] && command -v apt-get >/dev/null; then
  echo "[bootstrap] installing Debian's$missing for the tests"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo -n"
  $SUDO apt-get install -y -q $missing >/dev/null 2>&1 || { $SUDO apt-get update -q >/dev/null 2>&1 && $SUDO apt-get install -y -q $missing >/dev/null; } \
    || echo "[bootstrap] could not install$missing: the tests that need them will fail until they exist"
fi
stamp=.venv/.editor-rl-stamp
want=$(cat pyproject.toml scripts/bootstrap.sh | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[bootstrap] installing dependencies into .venv (first time takes a few minutes)"
  .venv/bin/python -m pip install -q --upgrade pip setuptools wheel
  # CPU torch first, pinned: it lies on these machines' disk; nothing pulls a CUDA build.
  .venv/bin/python -m pip install -q "torch==2.13.0"
  .venv/bin/python -m pip install -q -e ".[test]"
  echo "$want" > "$stamp"
fi
