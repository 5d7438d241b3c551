"""CoordMLELoss against MMPose 1.3.2's pipeline (DCC.generate_target_heatmap →
MLECCLoss), hand values, NaN safety, float32 under bf16 autocast."""
import math

import pytest
import torch
from mmpose.models.heads.hybrid_heads.rtmo_head import DCC
from mmpose.models.losses import MLECCLoss
from mmpose.registry import MODELS
from mmpose.structures.bbox import bbox_xyxy2cs

from mmpose_ext.models.common import NonFiniteError
from mmpose_ext.models.coord_cls import (CoordMLELoss,
                                         DynamicCoordinateClassifier)
from mmpose_ext.models.coord_cls.dcc import EPS
from ._tolerance import sum_atol

GAU = dict(
    s=16,
    expansion_factor=2,
    dropout_rate=0.0,
    drop_path=0.0,
    act_fn='SiLU',
    pos_enc='add')


@pytest.mark.parametrize('K', [17, 14])
def test_equals_mmpose_pipeline(K):
    kw = dict(
        in_channels=24,
        num_keypoints=K,
        feat_channels=32,
        num_bins=(48, 64),
        spe_channels=16,
        gau_cfg=GAU)
    ref = DCC(**kw).double()
    ours = DynamicCoordinateClassifier(**kw).double()
    ours.load_state_dict(ref.state_dict())
    N = 6
    xy = torch.rand(N, 2, dtype=torch.float64) * 300
    wh = torch.rand(N, 2, dtype=torch.float64) * 100 + 5
    boxes = torch.cat([xy, xy + wh], dim=1)
    grids = xy + wh / 2
    feats = torch.randn(N, 24, dtype=torch.float64)
    targets = xy.unsqueeze(1) + torch.rand(
        N, K, 2, dtype=torch.float64) * wh.unsqueeze(1)
    vis = (torch.rand(N, K) > 0.3).double()
    areas = wh.prod(-1) * torch.rand(N, dtype=torch.float64)
    areas[0] = 0.5  # √area < 1: clipped to 1 in both

    bbox_cs = torch.cat(bbox_xyxy2cs(boxes, 1.25), dim=1)
    _, pred_hms, sigmas = ref.forward_train(feats, bbox_cs, grids)
    target_hms = ref.generate_target_heatmap(targets, bbox_cs, sigmas, areas)
    # runner: mean
    expected = MLECCLoss(use_target_weight=True)(pred_hms, target_hms,
                                                 vis).mean()

    x_logits, y_logits, _, sigma = ours(feats, boxes, grids)
    x_bins, y_bins = ours.bin_coords(boxes)
    loss = MODELS.build(dict(type='CoordMLELoss'))
    got = loss(x_logits, y_logits, x_bins, y_bins, sigma, targets, vis, areas)
    assert got.dim() == 0
    # float64: summation order only
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)


def test_hand_values():
    """float64, so that only the formula is checked: a handful of roundings of.

    ~1e-16, rel_tol 1e-12.

    The softmax denominator carries MMPose's EPS (1e-8), so the expected values
    do too.
    """
    f64 = dict(dtype=torch.float64)
    # bins {0, 1}, uniform p, target 0, σ = 0.5, area 1: h = exp(−|0 −
    # c|/0.5/2)/0.5 = 2·exp(−c),
    # Σ p·h = 2·(1 + e⁻¹) / (2 + EPS) per axis ⇒ loss = −log((2·(1 + e⁻¹) / (2
    # + EPS))² + 1e-4)
    zeros = torch.zeros(1, 1, 2, **f64)
    bins = torch.tensor([0.0, 1.0], **f64)
    loss = CoordMLELoss()(zeros, zeros, bins, bins, torch.tensor([[0.5]],
                                                                 **f64),
                          torch.zeros(1, 1, 2, **f64))
    assert math.isclose(
        loss.item(),
        -math.log((2 * (1 + math.exp(-1)) / (2 + EPS))**2 + 1e-4),
        rel_tol=1e-12)

    # sure prediction on the target's bin, area 4 (√area = 2), σ = 0.25 ⇒ h =
    # 1/σ = 4 per axis, P = 16 / (1 + EPS)² ⇒ loss < 0 (expected for MLE);
    # weight 0.5 and the second (zero-weight) keypoint halve the mean (the
    # other bin's exp(−80) is far below float64's resolution of P)
    logits = torch.tensor([[[1e4, 0.0], [0.0, 1e4]]], **f64)  # (N=1, K=2, B=2)
    bins = torch.tensor([[3.0, 5.0]], **f64)  # (N, B)
    targets = torch.tensor([[[3.0, 3.0], [float('nan'), 1.0]]], **f64)
    loss = CoordMLELoss(loss_weight=2.0)(logits, logits, bins, bins,
                                         torch.full((1, 2), 0.25, **f64),
                                         targets,
                                         torch.tensor([[0.5, 0.0]], **f64),
                                         torch.tensor([4.0], **f64))
    expected = 2.0 * (-math.log(16 / (1 + EPS)**2 + 1e-4) * 0.5 + 0.0) / 2
    assert math.isclose(loss.item(), expected, rel_tol=1e-12)

    # off by one bin-width d = 2 px on x only: h_x = exp(−2/(2·0.25)/2)/0.25 =
    # 4·e⁻²
    targets = torch.tensor([[[5.0, 3.0], [0.0, 0.0]]], **f64)
    loss = CoordMLELoss()(logits[:, :1], logits[:, :1], bins, bins,
                          torch.full((1, 1), 0.25, **f64), targets[:, :1],
                          None, torch.tensor([4.0], **f64))
    assert math.isclose(
        loss.item(),
        -math.log(4 * math.exp(-2) * 4 / (1 + EPS)**2 + 1e-4),
        rel_tol=1e-12)


def test_nan_safety_and_gradients():
    N, K, B = 3, 14, 8
    x_logits = torch.randn(N, K, B, requires_grad=True)
    y_logits = torch.randn(N, K, B, requires_grad=True)
    sigma = torch.rand(N, K)
    sigma[0, 0] = 0.0  # clamped to 1e-3
    sigma.requires_grad_(True)
    bins = torch.linspace(0, 10, B)
    targets = torch.rand(N, K, 2) * 10
    targets[1, 2] = float('nan')  # invisible keypoint with a NaN annotation
    targets[2, 3] = float('inf')
    weights = torch.ones(N, K)
    weights[1, 2] = 0
    weights[2, 3] = 0
    areas = torch.tensor([0.0, -1.0, 50.0])  # degenerate boxes
    loss = CoordMLELoss()(x_logits, y_logits, bins, bins, sigma, targets,
                          weights, areas)
    assert torch.isfinite(loss)
    loss.backward()
    for t in (x_logits, y_logits, sigma):
        assert torch.isfinite(t.grad).all()


def test_empty_and_all_invisible_give_zero_with_graph():
    empty = torch.zeros(0, 17, 4, requires_grad=True)
    loss = CoordMLELoss()(empty, empty, torch.arange(4.0), torch.arange(4.0),
                          torch.zeros(0, 17), torch.zeros(0, 17, 2),
                          torch.zeros(0, 17))
    assert loss.item() == 0 and loss.requires_grad
    logits = torch.randn(2, 17, 4, requires_grad=True)
    loss = CoordMLELoss()(logits, logits, torch.arange(4.0), torch.arange(4.0),
                          torch.rand(2, 17),
                          torch.full((2, 17, 2), float('nan')),
                          torch.zeros(2, 17))
    assert loss.item() == 0
    loss.backward()
    assert torch.isfinite(logits.grad).all()


def test_clear_errors():
    logits = torch.randn(2, 17, 4)
    bins = torch.arange(4.0)
    with pytest.raises(ValueError, match='shapes'):
        CoordMLELoss()(logits, logits, bins, bins, torch.rand(2, 14),
                       torch.zeros(2, 17, 2))
    bad = logits.clone()
    bad[0, 0, 0] = float('nan')
    with pytest.raises(
            NonFiniteError,
            match=r'CoordMLELoss: non-finite input.*x_logits \(1 NaN'):
        CoordMLELoss()(bad, logits, bins, bins, torch.rand(2, 17),
                       torch.zeros(2, 17, 2))


def test_bf16_inputs_under_autocast_give_the_float32_loss():
    """bf16 logits/σ (what a bf16 layer would hand over) under CPU bf16
    autocast: the loss is computed in float32 on their exact float32 values.

    The two float32 evaluations below differ at most by the summation order of
    the B-term likelihood sums (two axes, relative γ_B each, in the log):
    2·γ_B.
    """
    N, K, B = 4, 17, 96
    x_logits = (torch.randn(N, K, B) * 20).bfloat16().requires_grad_(True)
    y_logits = (torch.randn(N, K, B) * 20).bfloat16()
    sigma = (torch.rand(N, K) * 0.1 + 0.01).bfloat16()
    bins = torch.arange(B, dtype=torch.float32) / 2
    targets = torch.rand(N, K, 2) * 48
    with torch.autocast('cpu', dtype=torch.bfloat16):
        loss = CoordMLELoss()(x_logits, y_logits, bins, bins, sigma, targets,
                              None, torch.full((N, ), 48. * 64))
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    expected = CoordMLELoss()(x_logits.float(), y_logits.float(), bins, bins,
                              sigma.float(), targets, None,
                              torch.full((N, ), 48. * 64))
    torch.testing.assert_close(
        loss, expected, rtol=0, atol=2 * sum_atol(B, 1.0))
    loss.backward()
    assert x_logits.grad.dtype == torch.bfloat16 and torch.isfinite(
        x_logits.grad).all()
