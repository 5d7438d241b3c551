"""Poseur's fast loss path: every decoder layer's RLE flow loss from ONE
batched RealNVP call (:meth:`RLEFlowLoss.forward_stacked`) equals the per-layer
:meth:`RLEFlowLoss.forward` in values and gradients (float64, 1e-10; float32,
1e-5), and :meth:`PoseurHead.loss` returns the same keys and numbers as the
per-layer computation (float32, 1e-5)."""
import pytest
import torch
from mmpose.registry import MODELS

from mmpose_ext.models.poseur.poseur_head import _poseur_rle_loss


def _stack_inputs(N=3, D=4, K=10, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    pred = torch.rand(N, D, K, 2, dtype=dtype, generator=g) * 1.4 - 0.2
    sigma = torch.rand(N, D, K, 2, dtype=dtype, generator=g) * 0.6 + 0.01
    target = torch.rand(N, K, 2, dtype=dtype, generator=g)
    weight = (torch.rand(N, K, 1, generator=g) > 0.3).to(dtype)
    return pred, sigma, target, weight


def _per_layer(loss, pred, sigma, target, weight):
    return torch.stack([
        loss(pred[:, d], sigma[:, d], target, weight)
        for d in range(pred.shape[1])
    ])


@pytest.mark.parametrize(
    'cfg',
    [
        _poseur_rle_loss(),
        # MMPose's RLELoss settings (sigmoid, laplace)
        dict(type='RLEFlowLoss', use_target_weight=True),
        dict(
            type='RLEFlowLoss',
            use_target_weight=False,
            q_distribution='gaussian',
            size_average=False),
    ])
@pytest.mark.parametrize('dtype,tol', [(torch.float64, 1e-10),
                                       (torch.float32, 1e-5)])
def test_stacked_flow_loss_equals_per_layer(cfg, dtype, tol):
    torch.manual_seed(0)
    loss = MODELS.build(cfg).to(dtype)
    with torch.no_grad():  # a flow that is not the identity
        for p in loss.flow_model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    inputs = _stack_inputs(dtype=dtype)
    values, grads = [], []
    for fn in (_per_layer, lambda l, *a: l.forward_stacked(*a)):
        pred, sigma = (t.clone().requires_grad_(True) for t in inputs[:2])
        out = fn(loss, pred, sigma, *inputs[2:])
        loss.zero_grad()
        (out * torch.arange(1., out.numel() + 1, dtype=dtype)).sum().backward()
        values.append(out.detach())
        grads.append([pred.grad, sigma.grad] +
                     [p.grad.clone() for p in loss.flow_model.parameters()])
    assert values[0].shape == values[1].shape == (inputs[0].shape[1], )
    assert torch.allclose(values[0], values[1], rtol=tol, atol=tol)
    for a, b in zip(*grads):
        assert torch.allclose(a, b, rtol=tol, atol=tol)


def test_stacked_flow_loss_rejects_non_finite_and_empty_batch():
    from mmpose_ext.models.common.finite import NonFiniteError
    loss = MODELS.build(_poseur_rle_loss())
    pred, sigma, target, weight = _stack_inputs(dtype=torch.float32)
    pred[0, 1, 2, 0] = float('nan')
    with pytest.raises(NonFiniteError):
        loss.forward_stacked(pred, sigma, target, weight)
    empty = loss.forward_stacked(
        *(t[:0] for t in _stack_inputs(dtype=torch.float32)))
    assert empty.shape == (4, ) and torch.all(empty == 0)


def test_head_loss_equals_per_layer_losses(monkeypatch):
    """PoseurHead.loss with the stacked path vs the same head with the per-
    layer calls (the loss module without ``forward_stacked``): same keys,
    values and gradients."""
    from mmengine.structures import InstanceData
    from mmpose.structures import PoseDataSample

    from mmpose_ext.models.common.rle_flow_loss import RLEFlowLoss
    from mmpose_ext.models.poseur import PoseurHead

    torch.manual_seed(0)
    head = PoseurHead(
        in_channels=32,
        num_keypoints=5,
        num_levels=2,
        embed_dims=32,
        num_heads=4,
        num_points=2,
        num_decoder_layers=3,
        feedforward_channels=64,
        dropout=0.0,
        noise_cfg=dict(num_groups=2, num_noisy_points=2))
    feats = [torch.randn(2, 32, 8, 6), torch.randn(2, 32, 4, 3)]
    samples = []
    for _ in range(2):
        s = PoseDataSample()
        s.gt_instance_labels = InstanceData(
            keypoint_labels=torch.rand(1, 5, 2),
            keypoint_weights=torch.tensor([[1., 1., 0., 1., 1.]]))
        samples.append(s)

    def run():
        torch.manual_seed(1)  # the same noisy groups
        head.zero_grad()
        losses = head.loss(feats, samples)
        sum(v for k, v in losses.items() if k.startswith('loss')).backward()
        return losses, [
            p.grad.clone() for p in head.parameters() if p.grad is not None
        ]

    head.train()
    fast, fast_grads = run()
    monkeypatch.delattr(RLEFlowLoss, 'forward_stacked')
    slow, slow_grads = run()
    assert list(fast) == list(slow) == [
        'loss_coarse', 'loss_dec0', 'loss_dec1', 'loss_dec2', 'acc_pose'
    ]
    for k in fast:
        assert torch.allclose(fast[k], slow[k], rtol=1e-5, atol=1e-6), k
    assert len(fast_grads) == len(slow_grads)
    for a, b in zip(fast_grads, slow_grads):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-7)


def test_cached_position_embedding_equals_the_encoding():
    """PoseurHead keeps the sine position embedding per level size (NCHW-
    contiguous): the same numbers as SinePositionalEncoding, nothing in the
    state dict, a different size computed afresh."""
    from mmpose_ext.models.poseur import PoseurHead

    head = PoseurHead(
        in_channels=32,
        num_keypoints=5,
        num_levels=2,
        embed_dims=32,
        num_heads=4,
        num_points=2,
        num_decoder_layers=1,
        feedforward_channels=64)
    keys = set(head.state_dict())
    for h, w in ((8, 6), (4, 3), (8, 6)):
        pos = head._position_embedding(h, w, torch.device('cpu'),
                                       torch.float32)
        expected = head.positional_encoding(
            torch.zeros(1, h, w, dtype=torch.bool))
        assert pos.is_contiguous() and torch.equal(pos, expected)
    assert set(head.state_dict()) == keys
    assert len(head._pos_cache) == 2
