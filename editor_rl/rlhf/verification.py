"""The listener decides promotion: a verification round between a new version and the one it would replace.

A cycle (:mod:`editor_rl.rlhf.cycle`) never promotes a version on its own models' opinion of
themselves. It stores **verification pairs** — on songs the version was not trained on, the edit the
new version would serve against the one its parent serves, sides drawn at random — and the service
mixes them into the rater's ``/api/feedback/samples`` (a personal version's rater only; everyone's
version: any rater). As judgements arrive, :func:`settle` (called by the Feedback deployment on
every verification judgement, and by ``editor-rl cycle`` when it runs again) applies the
:class:`Rule` written beside the version when the round opened:

- **promote** once at least ``min_judgements`` judgements prefer the new version in at least
  ``min_win_rate`` of them (a tie counts half) *and* the lower end of the Wilson interval (``z``)
  of that share is above ½ — a listener whose judgements are noise does not promote by luck;
- **retire** once the upper end of the interval is below ``min_win_rate`` (it cannot get there),
  at ``max_judgements``, or when no pair is left to judge without a promotion;
- otherwise it stays **pending**, served to nobody.

The verdict is written to ``models/vNNN/verdict.json`` (:meth:`ModelRegistry.set_verdict`) and
``GET /api/models`` shows it. Pure Python over the store and the registry: no Ray here.
"""

from __future__ import annotations

import math
import time
from typing import NamedTuple

from editor_rl.config import CycleConfig
from editor_rl.preferences.store_schema import Tally
from editor_rl.rlhf.registry import ModelRegistry


class Rule(NamedTuple):
    """When a verification round is decided (see the module docstring)."""

    min_judgements: int = 20
    min_win_rate: float = 0.55
    max_judgements: int = 60
    z: float = 2.4

    @classmethod
    def of(cls, cycle: CycleConfig) -> Rule:
        """The rule ``cycle.verify_*`` set."""
        return cls(cycle.verify_min_judgements, cycle.verify_min_win_rate, cycle.verify_max_judgements, cycle.verify_z)


class Verdict(NamedTuple):
    """Where a round stands: ``status`` ("pending", "promoted" or "retired"), the judgements so far,
    the new version's share of them (ties half) and its Wilson interval, and why."""

    status: str
    judgements: int
    win_rate: float | None
    low: float | None
    high: float | None
    reason: str


def wilson(wins: float, n: int, z: float) -> tuple[float, float]:
    """The Wilson score interval of a share ``wins / n`` (``wins`` may hold halves for ties)."""
    if n == 0:
        return 0.0, 1.0
    p = wins / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def decide(tally: Tally, rule: Rule) -> Verdict:
    """The verdict of a round with ``tally`` under ``rule`` (pure)."""
    n = tally.n
    if n == 0:
        return Verdict("retired" if not tally.left else "pending", 0, None, None, None,
                       "no judgements and no pair left to judge" if not tally.left else f"0 of at least {rule.min_judgements} judgements")
    rate = tally.wins / n
    low, high = wilson(tally.wins, n, rule.z)
    say = f"{n} judgements prefer it in {rate:.2f} (interval {low:.2f}–{high:.2f})"
    if n >= rule.min_judgements and rate >= rule.min_win_rate and low > 0.5:
        return Verdict("promoted", n, rate, low, high, f"{say}: at least {rule.min_win_rate:.2f} and surely above ½")
    if n >= rule.min_judgements and high < rule.min_win_rate:
        return Verdict("retired", n, rate, low, high, f"{say}: it cannot reach {rule.min_win_rate:.2f}")
    if n >= rule.max_judgements or not tally.left:
        return Verdict("retired", n, rate, low, high, f"{say}: {'no pair left' if not tally.left else 'the most judgements a round takes'} without showing it is better")
    return Verdict("pending", n, rate, low, high, f"{say}; at least {rule.min_judgements} are needed")


def settle(store, registry: ModelRegistry, name: str) -> Verdict:
    """Decide version ``name``'s round from the store's judgements and act on it: promote it (to
    everyone, or to its rater) or retire it, and end its round. A settled round stays as it is.

    Parameters
    ----------
    store : PreferenceStore
    registry : ModelRegistry
    name : str
        A version with a verdict file (opened by a cycle).
    """
    now = registry.verdict(name)
    if now is None or now["status"] != "pending":
        return Verdict(**{k: now[k] for k in Verdict._fields}) if now else Verdict("promoted", 0, None, None, None, "no verification round")
    verdict = decide(store.verification_tally(name), Rule(**now["rule"]))
    if verdict.status == "promoted":
        registry.promote(name, rater=now.get("rater"))
    if verdict.status != "pending":
        store.end_verification(name)
    registry.set_verdict(name, now | verdict._asdict() | ({"decided": time.time()} if verdict.status != "pending" else {}))
    return verdict
