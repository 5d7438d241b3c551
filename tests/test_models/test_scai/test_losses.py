"""SCAI's losses on values derivable by hand."""
import math

import pytest
import torch
from mmpose.registry import MODELS

from mmpose_ext.models.scai.losses import heatmap_error


def _const(value, b=2, m=3, h=4, w=5):
    return torch.full((b, m, h, w), float(value))


def test_heatmap_error_by_hand():
    pred, target = _const(0.5), _const(0.0)
    # mse: mean of 0.5² over the 4·5 pixels = 0.25; l2: sqrt(20 · 0.25) =
    # sqrt(5)
    torch.testing.assert_close(
        heatmap_error(pred, target, 'mse'), torch.full((2, 3), 0.25))
    torch.testing.assert_close(
        heatmap_error(pred, target, 'l2'), torch.full((2, 3), math.sqrt(5.0)))
    one_pixel = torch.zeros(1, 1, 4, 5)
    one_pixel[0, 0, 1, 2] = 2.0
    torch.testing.assert_close(
        heatmap_error(one_pixel, torch.zeros_like(one_pixel)),
        torch.tensor([[4 / 20]]))
    with pytest.raises(ValueError, match='norm'):
        heatmap_error(pred, target, 'l1')
    with pytest.raises(ValueError, match='shapes differ'):
        heatmap_error(pred, target[:, :2])


def test_l2_norm_has_finite_gradient_at_zero():
    pred = torch.zeros(1, 1, 3, 3, requires_grad=True)
    heatmap_error(pred, torch.zeros(1, 1, 3, 3), 'l2').sum().backward()
    assert torch.isfinite(pred.grad).all()


def test_heatmap_loss_weights():
    loss = MODELS.build(dict(type='SCAIHeatmapLoss', loss_weight=2.0))
    pred, target = _const(0.5, b=2, m=2), _const(0.0, b=2, m=2)
    pred[1] = 1.0  # second instance: error 1.0 per map
    weights = torch.tensor([[1., 0.], [1., 1.]])
    # 2 · mean([0.25·1, 0.25·0, 1·1, 1·1]) = 2 · 2.25 / 4
    torch.testing.assert_close(
        loss(pred, target, weights), torch.tensor(2 * 2.25 / 4))
    torch.testing.assert_close(loss(pred, target), torch.tensor(2 * 2.5 / 4))
    with pytest.raises(ValueError, match='no heatmaps'):
        loss(pred[:0], target[:0])


def test_correction_loss_terms_by_hand():
    # paper: a=0.85, b=0.65, λ=0.45
    loss = MODELS.build(dict(type='SCAICorrectionLoss'))
    assert (loss.a, loss.b, loss.lam) == (0.85, 0.65, 0.45)
    corrected, distal_gt = _const(0.3), _const(0.1)  # L⁰ = 0.2² = 0.04
    # L¹ = 0.09, L² = 0.25
    fb_corrected, fb_uncorrected, root_gt = _const(0.5), _const(0.7), _const(
        0.2)
    out = loss(corrected, distal_gt, fb_corrected, fb_uncorrected, root_gt)
    torch.testing.assert_close(out['loss_l0'], torch.tensor(0.85 * 0.04))
    torch.testing.assert_close(out['loss_l1'], torch.tensor(0.65 * 0.09))
    torch.testing.assert_close(out['loss_consistency'],
                               torch.tensor(0.45 * (0.09 - 0.25)))
    total = sum(out.values())
    torch.testing.assert_close(
        total, torch.tensor(0.85 * 0.04 + 0.65 * 0.09 + 0.45 * (0.09 - 0.25)))


def test_correction_loss_weights_and_l2_norm():
    loss = MODELS.build(
        dict(type='SCAICorrectionLoss', a=1.0, b=2.0, lam=0.5, norm='l2'))
    h, w = 4, 5
    # l2 = sqrt(20)
    corrected, distal_gt = _const(1.0, b=1, m=2), _const(0.0, b=1, m=2)
    fb_c, fb_u, root_gt = _const(
        2.0, b=1, m=2), _const(
            3.0, b=1, m=2), _const(
                0.0, b=1, m=2)
    w_d, w_r = torch.tensor([[1., 0.]]), torch.tensor([[0., 1.]])
    out = loss(corrected, distal_gt, fb_c, fb_u, root_gt, w_d, w_r)
    n = math.sqrt(h * w)
    # mean([n·1, n·0])
    torch.testing.assert_close(out['loss_l0'], torch.tensor(1.0 * n / 2))
    torch.testing.assert_close(out['loss_l1'], torch.tensor(2.0 * 2 * n / 2))
    torch.testing.assert_close(out['loss_consistency'],
                               torch.tensor(0.5 * (2 * n - 3 * n) / 2))


def test_consistency_term_moves_c_like_lambda_l1():
    """L² does not depend on the corrected heatmap: ∂(λ(L¹−L²))/∂H̃ =
    λ·∂L¹/∂H̃."""
    loss = MODELS.build(
        dict(type='SCAICorrectionLoss', a=0.0, b=0.0, lam=0.45))
    corrected = torch.rand(2, 3, 4, 5, requires_grad=True)
    fb_c = corrected * 2  # a stand-in for Γ(…, H̃_D)
    root_gt, fb_u = torch.rand(2, 3, 4, 5), torch.rand(2, 3, 4, 5)
    sum(
        loss(corrected, torch.zeros_like(root_gt), fb_c, fb_u,
             root_gt).values()).backward()
    expected = 0.45 * 2 * 2 * (2 * corrected.detach() - root_gt) / (2 * 3 * 4 *
                                                                    5)
    torch.testing.assert_close(corrected.grad, expected)
