"""Ray stays at the edges: importing the pure layers must not import Ray."""

import subprocess
import sys

PURE = ["editor_rl.audio", "editor_rl.audio.synth", "editor_rl.edit", "editor_rl.edit.actions", "editor_rl.editors.baselines", "editor_rl.policy.env", "editor_rl.rewards.dense", "editor_rl.config", "editor_rl.errors",
        "editor_rl.search.planner", "editor_rl.search.promise", "editor_rl.preferences.store", "editor_rl.raters.online", "editor_rl.rlhf.candidates",
        "editor_rl.raters.synthetic", "editor_rl.raters.judging", "editor_rl.policy.rollouts", "editor_rl.policy.shipped", "editor_rl.editors.best_of"]


def test_pure_layers_do_not_import_ray():
    code = "import sys\n" + "".join(f"import {m}\n" for m in PURE) + "print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


def test_corpus_imports_ray_only_when_fanning_out():
    code = "import sys, editor_rl.corpus.store, editor_rl.apps.cli\nprint('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"
