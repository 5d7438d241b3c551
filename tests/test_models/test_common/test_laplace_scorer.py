import math

import pytest
import torch
from mmpose.registry import MODELS

from mmpose_ext.models.common import LaplaceIntegralScorer


def test_closed_form_against_hand_values():
    # σ = a / ln 2  ⇒  1 − exp(−a/σ) = 1 − 1/2 = 0.5 per axis; σ = a / ln 4 ⇒
    # 0.75.
    a = 0.2
    sigma = torch.tensor([[
        [a / math.log(2), a / math.log(2)],
        # (N=1, K=2, 2)
        [a / math.log(2), a / math.log(4)]
    ]])
    scorer = MODELS.build(
        dict(type='LaplaceIntegralScorer', radius=a, weight=1.0))
    scores = scorer(sigma)
    assert scores.shape == (1, 2)
    torch.testing.assert_close(
        scores, torch.tensor([[0.25, 0.375]]), rtol=0, atol=1e-7)


@pytest.mark.parametrize('radius,weight', [(0.2, 1.0), (0.05, 0.7),
                                           (1.0, 2.0)])
def test_matches_formula_on_random_sigma(radius, weight):
    sigma = torch.rand(4, 14, 2, dtype=torch.float64) * 0.5 + 1e-3
    expected = weight * (1 - torch.exp(-radius / sigma[..., 0])) * (
        1 - torch.exp(-radius / sigma[..., 1]))
    got = LaplaceIntegralScorer(radius=radius, weight=weight)(sigma)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


def test_limits_and_monotonicity():
    scorer = LaplaceIntegralScorer(radius=0.2)
    sigma = torch.tensor([[0.0, 0.0], [1e-6, 1e-6], [0.1, 0.1], [1e6, 1e6]])
    scores = scorer(sigma)
    assert torch.isfinite(scores).all()
    assert scores[0] == 1.0 and scores[1] == 1.0  # no spread: all mass inside
    assert scores[3] < 1e-10  # huge spread: no mass inside
    assert (scores[:-1] >= scores[1:]).all()  # larger σ, lower score


def test_rejects_bad_radius():
    with pytest.raises(ValueError, match='radius'):
        LaplaceIntegralScorer(radius=0.0)


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_float32_under_autocast(dtype):
    """Half-precision σ inside autocast: the score is the float32 score of the
    same σ, exactly."""
    scorer = LaplaceIntegralScorer(radius=0.2, weight=0.7)
    sigma = torch.rand(3, 17, 2).to(dtype)
    with torch.autocast('cpu', dtype=dtype):
        got = scorer(sigma)
    assert got.dtype == torch.float32
    assert torch.equal(got, scorer(sigma.float()))
