"""Ship a finished run as the package's default model (``editor_rl/policy/default_model``).

    .venv/bin/python scripts/ship_model.py runs/real        # after scripts/real_pipeline.sh
    SHIP=1 bash scripts/real_pipeline.sh                     # the same, at the end of the run

Copies the run's ``checkpoints/best`` policy (its RLModule only, no optimiser state), its reward
model and config, and writes ``model.json`` (commit, command, digests, sizes, the run's
evaluation). Refuses a model over 10 MB.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from editor_rl.errors import EditorRLError
from editor_rl.policy.shipped import SHIPPED_DIR, ship

MAX_BYTES = 10 * 2**20


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="a finished run's work folder (checkpoints/best, reward/reward.pt, run_config.yaml)")
    ap.add_argument("--out", default=str(SHIPPED_DIR))
    ap.add_argument("--command", default="bash scripts/real_pipeline.sh", help="the command that trained the run (for the card)")
    args = ap.parse_args()
    # the commit of the checkout the run lies in (the code that trained it), else this one's
    where = args.run if Path(args.run).is_dir() else Path(__file__).parent
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=where).stdout.strip()
    try:
        model = ship(args.run, out_dir=args.out, commit=commit or "unknown", command=args.command)
    except EditorRLError as e:
        print(f"ship_model: {e}", file=sys.stderr)
        return 2
    size = sum(model.card["bytes"].values())
    if size > MAX_BYTES:
        print(f"ship_model: the model is {size / 2**20:.1f} MB, over the 10 MB the package allows", file=sys.stderr)
        return 2
    print(f"shipped {args.run} ({size / 2**20:.2f} MB, commit {model.card['commit']}) → {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
