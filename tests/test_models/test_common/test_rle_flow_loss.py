"""RLEFlowLoss against MMPose's RLELoss (same flow weights) and against values derived by hand."""
import math

import pytest
import torch
from torch import nn

from mmpose.models.losses import RLELoss
from mmpose.registry import MODELS
from mmpose_ext.models.common import RLEFlowLoss


def _inputs(N=4, K=17, dtype=torch.float32):
    pred = torch.rand(N, K, 2, dtype=dtype)
    target = pred + 0.1 * torch.randn(N, K, 2, dtype=dtype)
    sigma_logits = torch.randn(N, K, 2, dtype=dtype)
    weight = (torch.rand(N, K, 1) > 0.3).to(dtype)
    return pred, sigma_logits, target, weight


def _randomise(flow: nn.Module) -> None:
    """Non-trivial flow weights (MMPose's init uses gain 0.01, which makes the flow almost the identity)."""
    for p in flow.parameters():
        nn.init.normal_(p, std=0.3)


@pytest.mark.parametrize('q_distribution', ['laplace', 'gaussian'])
@pytest.mark.parametrize('use_target_weight', [True, False])
@pytest.mark.parametrize('size_average', [True, False])
@pytest.mark.parametrize('residual', [True, False])
@pytest.mark.parametrize('K', [17, 14])
def test_equals_mmpose_rle_loss(q_distribution, use_target_weight, size_average, residual, K):
    kwargs = dict(use_target_weight=use_target_weight, size_average=size_average, residual=residual,
                  q_distribution=q_distribution)
    theirs = RLELoss(**kwargs)
    _randomise(theirs.flow_model)
    ours = MODELS.build(dict(type='RLEFlowLoss', **kwargs))
    ours.load_state_dict(theirs.state_dict())  # same parameter and buffer names
    pred, sigma, target, weight = _inputs(K=K)
    expected = theirs(pred, sigma, target, weight if use_target_weight else None)
    got = ours(pred, sigma, target, weight if use_target_weight else None)
    assert abs(got.item() - expected.item()) <= 1e-6 * max(1.0, abs(expected.item())), \
        f'{got.item()} vs {expected.item()}'


def _identity_flow(loss: RLEFlowLoss) -> None:
    """Zero the last layer of every s/t net: s = tanh(0) = 0 and t = 0, so the flow is the identity and
    log G(ē) = log N(ē; μ, I) = −log(2π) − ‖ē − μ‖²/2."""
    for net in [*loss.flow_model.s, *loss.flow_model.t]:
        last = [m for m in net if isinstance(m, nn.Linear)][-1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)


def test_by_hand_laplace_single_keypoint():
    loss = RLEFlowLoss(use_target_weight=False, size_average=True, q_distribution='laplace')
    _identity_flow(loss)
    # σ logits 0 → σ = 0.5; pred − gt = (0.1, −0.2) → ē = (0.2, −0.4)
    pred = torch.tensor([[[0.6, 0.3]]])
    target = torch.tensor([[[0.5, 0.5]]])
    sigma = torch.zeros(1, 1, 2)
    e = (0.2, -0.4)
    log_g = -math.log(2 * math.pi) - (e[0]**2 + e[1]**2) / 2
    # per axis: log σ − log G + log(2σ) + |ē|; N = 1
    expected = sum(math.log(0.5) - log_g + math.log(1.0) + abs(ei) for ei in e)
    assert loss(pred, sigma, target).item() == pytest.approx(expected, rel=1e-6)


def test_by_hand_poseur_variant():
    # Poseur: σ already positive, prior N(0.5, I), residual log(σ√(2π)) + |gt − pred| / (√2 σ).
    loss = RLEFlowLoss(use_target_weight=True, sigma_activation=None, prior_mean=0.5,
                       q_distribution='poseur')
    _identity_flow(loss)
    pred = torch.tensor([[[0.6, 0.3], [0.0, 0.0]]])
    target = torch.tensor([[[0.5, 0.5], [0.9, 0.9]]])
    sigma = torch.tensor([[[0.25, 0.5], [0.1, 0.1]]])
    weight = torch.tensor([[1.0, 0.0]])  # the second keypoint is invisible: it contributes nothing
    e = (0.1 / 0.25, -0.2 / 0.5)  # (0.4, −0.4)
    log_g = -math.log(2 * math.pi) - ((e[0] - 0.5)**2 + (e[1] - 0.5)**2) / 2
    expected = sum(math.log(s) - log_g + math.log(s * math.sqrt(2 * math.pi)) + d / (math.sqrt(2) * s)
                   for s, d in ((0.25, 0.1), (0.5, 0.2)))
    assert loss(pred, sigma, target, weight).item() == pytest.approx(expected, rel=1e-5)


def test_prior_mean_moves_the_flow_prior():
    loss = RLEFlowLoss(prior_mean=0.5)
    assert torch.equal(loss.flow_model.loc, torch.full((2, ), 0.5))
    assert loss.flow_model.prior.mean.tolist() == [0.5, 0.5]


def test_gradients_reach_inputs_and_flow():
    loss = RLEFlowLoss(use_target_weight=True)
    pred, sigma, target, weight = _inputs()
    pred.requires_grad_(True)
    sigma.requires_grad_(True)
    loss(pred, sigma, target, weight).backward()
    assert pred.grad.abs().sum() > 0 and sigma.grad.abs().sum() > 0
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in loss.parameters())


def test_bad_input():
    loss = RLEFlowLoss(use_target_weight=True)
    # no instances: zero, not NaN, and still differentiable
    pred = torch.zeros(0, 17, 2, requires_grad=True)
    out = loss(pred, torch.zeros(0, 17, 2), torch.zeros(0, 17, 2), torch.zeros(0, 17, 1))
    assert out.item() == 0.0
    out.backward()
    # σ logits so negative that sigmoid underflows to 0 in float32: finite, not NaN/inf
    pred, _, target, weight = _inputs()
    out = loss(pred, torch.full_like(pred, -200.0), target, weight)
    assert torch.isfinite(out)
    # all keypoints invisible: exactly zero
    assert loss(pred, torch.zeros_like(pred), target, torch.zeros_like(weight)).item() == 0.0
    # K mismatch between head and data
    with pytest.raises(ValueError, match='num_joints'):
        loss(torch.zeros(2, 17, 2), torch.zeros(2, 17, 2), torch.zeros(2, 14, 2), torch.ones(2, 14, 1))
    with pytest.raises(ValueError, match='target_weight'):
        loss(*_inputs()[:3])
    with pytest.raises(ValueError, match='q_distribution'):
        RLEFlowLoss(q_distribution='cauchy')
