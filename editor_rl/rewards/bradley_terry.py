"""Bradley–Terry loss with ties (Rao–Kupper) and preference strength (margins).

For a pair with rewards ``r_a``, ``r_b`` and ``Δ = r_a − r_b``:

- ``P(a ≻ b) = σ(Δ − θ)``, ``P(b ≻ a) = σ(−Δ − θ)``, ``P(tie) = 1 − P(a ≻ b) − P(b ≻ a)``
  (Rao & Kupper, 1967): a tie is likely when ``|Δ| < θ``, so a tie pulls the two scores together.
  ``θ > 0`` is learned (parameterised by its log). We chose Rao–Kupper over splitting each tie into
  two half-weight opposite comparisons because the latter has no tie probability to calibrate and
  still pushes ``Δ`` toward 0 only weakly.
- A preference of strength ``s`` must be won by an extra margin ``m(s) = margin_per_strength ·
  (s − 1)``: its loss is ``−log σ(±Δ − θ − m(s))`` (the margin trick of Llama 2's reward model), so
  a strength-3 judgement moves the gap more than a strength-1.

Ensemble heads are trained on the same pairs with per-head bootstrap weights.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

PREF_A, PREF_B, PREF_TIE = 0, 1, 2
PREF_CODES = {"a": PREF_A, "b": PREF_B, "tie": PREF_TIE}


class BradleyTerryLoss(nn.Module):
    """Negative log-likelihood of A/B/tie judgements (see module docstring).

    Parameters
    ----------
    margin_per_strength : float
        Extra margin per strength step above 1.
    tie_threshold : float
        Initial θ.
    """

    def __init__(self, *, margin_per_strength: float = 0.5, tie_threshold: float = 0.5) -> None:
        super().__init__()
        self.margin_per_strength = margin_per_strength
        self.log_theta = nn.Parameter(torch.tensor(math.log(tie_threshold)))

    @property
    def theta(self) -> torch.Tensor:
        """The tie threshold θ (> 0)."""
        return self.log_theta.exp()

    def probabilities(self, delta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``P(a ≻ b)``, ``P(b ≻ a)``, ``P(tie)`` for score gaps ``delta`` [shape=(...)]."""
        th = self.theta
        pa, pb = torch.sigmoid(delta - th), torch.sigmoid(-delta - th)
        return pa, pb, (1 - pa - pb).clamp_min(1e-6)

    def forward(self, r_a: torch.Tensor, r_b: torch.Tensor, preference: torch.Tensor, strength: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        """Mean loss.

        Parameters
        ----------
        r_a, r_b : torch.Tensor [shape=(B, E)] or [shape=(B,)]
            Scores of the two edits (per ensemble head).
        preference : torch.Tensor [shape=(B,), dtype=long]
            0 = a, 1 = b, 2 = tie.
        strength : torch.Tensor [shape=(B,)]
            1, 2 or 3 (ignored for ties).
        weight : torch.Tensor [shape=(B, E)] or None
            Per-pair (per-head) weights, e.g. bootstrap counts.
        """
        delta = r_a - r_b
        if delta.dim() == 2:
            preference, strength = preference[:, None], strength[:, None]
        th = self.theta
        sign = torch.where(preference == PREF_B, -1.0, 1.0)
        margin = self.margin_per_strength * (strength.float() - 1.0)
        nll_pref = -F.logsigmoid(sign * delta - th - margin)
        pa, pb = torch.sigmoid(delta - th), torch.sigmoid(-delta - th)
        nll_tie = -torch.log((1 - pa - pb).clamp_min(1e-6))
        nll = torch.where(preference == PREF_TIE, nll_tie, nll_pref)
        if weight is None:
            return nll.mean()
        return (nll * weight).sum() / weight.sum().clamp_min(1e-9)
