import pytest
import torch

from editor_rl.rewards.bradley_terry import PREF_A, PREF_TIE, BradleyTerryLoss


def grad_of_delta(pref: int, strength: int, delta: float) -> float:
    loss_fn = BradleyTerryLoss(margin_per_strength=0.5, tie_threshold=0.5)
    ra = torch.tensor([delta], requires_grad=True)
    loss = loss_fn(ra, torch.zeros(1), torch.tensor([pref]), torch.tensor([strength]))
    loss.backward()
    return float(ra.grad)


def test_strength_3_moves_the_margin_more_than_strength_1():
    g1, g3 = grad_of_delta(PREF_A, 1, 1.0), grad_of_delta(PREF_A, 3, 1.0)
    assert g1 < 0 and g3 < g1  # both push r_a up; strength 3 harder


def test_ties_pull_scores_together():
    assert grad_of_delta(PREF_TIE, 1, 2.0) > 0  # a ahead: the tie pushes r_a down
    assert grad_of_delta(PREF_TIE, 1, -2.0) < 0  # a behind: pushes r_a up
    assert abs(grad_of_delta(PREF_TIE, 1, 0.0)) < 1e-6


def test_probabilities_sum_to_one_and_ties_peak_at_zero():
    loss_fn = BradleyTerryLoss(tie_threshold=0.5)
    d = torch.linspace(-5, 5, 101)
    pa, pb, pt = loss_fn.probabilities(d)
    assert torch.allclose(pa + pb + pt, torch.ones_like(d), atol=1e-5)
    assert int(pt.argmax()) == 50 and float(pa[-1]) > 0.98


def test_bootstrap_weights_and_ensemble_shapes():
    loss_fn = BradleyTerryLoss()
    ra, rb = torch.randn(4, 3), torch.randn(4, 3)
    w = torch.tensor([[1.0, 0.0, 2.0]] * 4)
    val = loss_fn(ra, rb, torch.tensor([0, 1, 2, 0]), torch.tensor([1, 2, 1, 3]), w)
    assert val.ndim == 0 and torch.isfinite(val)
    assert float(loss_fn(ra, rb, torch.tensor([0, 0, 0, 0]), torch.ones(4), torch.ones(4, 3))) == pytest.approx(
        float(loss_fn(ra, rb, torch.tensor([0, 0, 0, 0]), torch.ones(4))))
