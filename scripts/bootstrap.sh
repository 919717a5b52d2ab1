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
