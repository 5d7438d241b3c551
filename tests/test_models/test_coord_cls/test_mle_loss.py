"""CoordMLELoss against MMPose 1.3.2's pipeline (DCC.generate_target_heatmap → MLECCLoss), hand values,
NaN safety."""
import math

import pytest
import torch

from mmpose.models.heads.hybrid_heads.rtmo_head import DCC
from mmpose.models.losses import MLECCLoss
from mmpose.registry import MODELS
from mmpose.structures.bbox import bbox_xyxy2cs
from mmpose_ext.models.coord_cls import CoordMLELoss, DynamicCoordinateClassifier

GAU = dict(s=16, expansion_factor=2, dropout_rate=0.0, drop_path=0.0, act_fn='SiLU', pos_enc='add')


@pytest.mark.parametrize('K', [17, 14])
def test_equals_mmpose_pipeline(K):
    kw = dict(in_channels=24, num_keypoints=K, feat_channels=32, num_bins=(48, 64), spe_channels=16,
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
    targets = xy.unsqueeze(1) + torch.rand(N, K, 2, dtype=torch.float64) * wh.unsqueeze(1)
    vis = (torch.rand(N, K) > 0.3).double()
    areas = wh.prod(-1) * torch.rand(N, dtype=torch.float64)
    areas[0] = 0.5  # √area < 1: clipped to 1 in both

    bbox_cs = torch.cat(bbox_xyxy2cs(boxes, 1.25), dim=1)
    _, pred_hms, sigmas = ref.forward_train(feats, bbox_cs, grids)
    target_hms = ref.generate_target_heatmap(targets, bbox_cs, sigmas, areas)
    expected = MLECCLoss(use_target_weight=True)(pred_hms, target_hms, vis).mean()  # runner: mean

    x_logits, y_logits, _, sigma = ours(feats, boxes, grids)
    x_bins, y_bins = ours.bin_coords(boxes)
    loss = MODELS.build(dict(type='CoordMLELoss'))
    got = loss(x_logits, y_logits, x_bins, y_bins, sigma, targets, vis, areas)
    assert got.dim() == 0
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)


def test_hand_values():
    # bins {0, 1}, uniform p, target 0, σ = 0.5, area 1: h = exp(−|0 − c|/0.5/2)/0.5 = 2·exp(−c),
    # Σ p·h = 0.5·2·(1 + e⁻¹) per axis ⇒ loss = −log((1 + e⁻¹)² + 1e-4)
    zeros = torch.zeros(1, 1, 2)
    bins = torch.tensor([0.0, 1.0])
    loss = CoordMLELoss()(zeros, zeros, bins, bins, torch.tensor([[0.5]]), torch.zeros(1, 1, 2))
    assert math.isclose(loss.item(), -math.log((1 + math.exp(-1)) ** 2 + 1e-4), rel_tol=1e-6)

    # sure prediction on the target's bin, area 4 (√area = 2), σ = 0.25 ⇒ h = 1/σ = 4 per axis,
    # P = 16 ⇒ loss < 0 (expected for MLE); weight 0.5 and the second (zero-weight) keypoint halve the mean
    logits = torch.tensor([[[1e4, 0.0], [0.0, 1e4]]])  # (N=1, K=2, B=2)
    bins = torch.tensor([[3.0, 5.0]])  # (N, B)
    targets = torch.tensor([[[3.0, 3.0], [float('nan'), 1.0]]])
    loss = CoordMLELoss(loss_weight=2.0)(logits, logits, bins, bins, torch.full((1, 2), 0.25), targets,
                                         torch.tensor([[0.5, 0.0]]), torch.tensor([4.0]))
    assert math.isclose(loss.item(), 2.0 * (-math.log(16 + 1e-4) * 0.5 + 0.0) / 2, rel_tol=1e-6)

    # off by one bin-width d = 2 px on x only: h_x = exp(−2/(2·0.25)/2)/0.25 = 4·e⁻²
    targets = torch.tensor([[[5.0, 3.0], [0.0, 0.0]]])
    loss = CoordMLELoss()(logits[:, :1], logits[:, :1], bins, bins, torch.full((1, 1), 0.25),
                          targets[:, :1], None, torch.tensor([4.0]))
    assert math.isclose(loss.item(), -math.log(4 * math.exp(-2) * 4 + 1e-4), rel_tol=1e-6)


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
    loss = CoordMLELoss()(x_logits, y_logits, bins, bins, sigma, targets, weights, areas)
    assert torch.isfinite(loss)
    loss.backward()
    for t in (x_logits, y_logits, sigma):
        assert torch.isfinite(t.grad).all()


def test_empty_and_all_invisible_give_zero_with_graph():
    empty = torch.zeros(0, 17, 4, requires_grad=True)
    loss = CoordMLELoss()(empty, empty, torch.arange(4.0), torch.arange(4.0), torch.zeros(0, 17),
                          torch.zeros(0, 17, 2), torch.zeros(0, 17))
    assert loss.item() == 0 and loss.requires_grad
    logits = torch.randn(2, 17, 4, requires_grad=True)
    loss = CoordMLELoss()(logits, logits, torch.arange(4.0), torch.arange(4.0), torch.rand(2, 17),
                          torch.full((2, 17, 2), float('nan')), torch.zeros(2, 17))
    assert loss.item() == 0
    loss.backward()
    assert torch.isfinite(logits.grad).all()


def test_clear_errors():
    logits = torch.randn(2, 17, 4)
    bins = torch.arange(4.0)
    with pytest.raises(ValueError, match='shapes'):
        CoordMLELoss()(logits, logits, bins, bins, torch.rand(2, 14), torch.zeros(2, 17, 2))
    bad = logits.clone()
    bad[0, 0, 0] = float('nan')
    with pytest.raises(ValueError, match='non-finite'):
        CoordMLELoss()(bad, logits, bins, bins, torch.rand(2, 17), torch.zeros(2, 17, 2))
