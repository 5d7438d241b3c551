"""RLEFlowLoss against MMPose's RLELoss (same flow weights) and against values
derived by hand; its float32 island under bf16/fp16 autocast, its non-finite
input check, and MMPose's RLEHead with it at batch size 1."""
import math

import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData
from mmpose.models.losses import RLELoss
from mmpose.registry import MODELS
from mmpose.structures import PoseDataSample
from torch import nn

from mmpose_ext.models.common import NonFiniteError, RLEFlowLoss


def _inputs(N=4, K=17, dtype=torch.float32):
    pred = torch.rand(N, K, 2, dtype=dtype)
    target = pred + 0.1 * torch.randn(N, K, 2, dtype=dtype)
    sigma_logits = torch.randn(N, K, 2, dtype=dtype)
    weight = (torch.rand(N, K, 1) > 0.3).to(dtype)
    return pred, sigma_logits, target, weight


def _randomise(flow: nn.Module) -> None:
    """Non-trivial flow weights (MMPose's init uses gain 0.01, which makes the
    flow almost the identity)."""
    for p in flow.parameters():
        nn.init.normal_(p, std=0.3)


@pytest.mark.parametrize('q_distribution', ['laplace', 'gaussian'])
@pytest.mark.parametrize('use_target_weight', [True, False])
@pytest.mark.parametrize('size_average', [True, False])
@pytest.mark.parametrize('residual', [True, False])
@pytest.mark.parametrize('K', [17, 14])
def test_equals_mmpose_rle_loss(q_distribution, use_target_weight,
                                size_average, residual, K):
    kwargs = dict(
        use_target_weight=use_target_weight,
        size_average=size_average,
        residual=residual,
        q_distribution=q_distribution)
    theirs = RLELoss(**kwargs)
    _randomise(theirs.flow_model)
    ours = MODELS.build(dict(type='RLEFlowLoss', **kwargs))
    # same parameter and buffer names
    ours.load_state_dict(theirs.state_dict())
    pred, sigma, target, weight = _inputs(K=K)
    expected = theirs(pred, sigma, target,
                      weight if use_target_weight else None)
    got = ours(pred, sigma, target, weight if use_target_weight else None)
    assert (abs(got.item() - expected.item())
            <= 1e-6 * max(1.0, abs(expected.item()))), (
                f'{got.item()} vs {expected.item()}')


def _identity_flow(loss: RLEFlowLoss) -> None:
    """Zero the last layer of every s/t net: s = tanh(0) = 0 and t = 0, so the
    flow is the identity and log G(ē) = log N(ē; μ, I) = −log(2π) − ‖ē −
    μ‖²/2."""
    for net in [*loss.flow_model.s, *loss.flow_model.t]:
        last = [m for m in net if isinstance(m, nn.Linear)][-1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)


def test_by_hand_laplace_single_keypoint():
    loss = RLEFlowLoss(
        use_target_weight=False, size_average=True, q_distribution='laplace')
    _identity_flow(loss)
    # σ logits 0 → σ = 0.5; pred − gt = (0.1, −0.2) → ē = (0.2, −0.4)
    pred = torch.tensor([[[0.6, 0.3]]])
    target = torch.tensor([[[0.5, 0.5]]])
    sigma = torch.zeros(1, 1, 2)
    e = (0.2, -0.4)
    log_g = -math.log(2 * math.pi) - (e[0]**2 + e[1]**2) / 2
    # per axis: log σ − log G + log(2σ) + |ē|; N = 1
    expected = sum(math.log(0.5) - log_g + math.log(1.0) + abs(ei) for ei in e)
    assert loss(pred, sigma, target).item() == pytest.approx(
        expected, rel=1e-6)


@pytest.mark.parametrize('normalize, count', [('instance', 1),
                                              ('keypoint', 2)])
def test_by_hand_poseur_variant(normalize, count):
    # Poseur: σ already positive, prior N(0.5, I), residual log(σ√(2π)) + |gt −
    # pred| / (√2 σ); divided by
    # N = 1 (MMPose's normalisation) or by N·K = 2 slots (the official
    # RLELoss_poseur's: the invisible
    # keypoint counts although its loss is zero).
    loss = RLEFlowLoss(
        use_target_weight=True,
        sigma_activation=None,
        prior_mean=0.5,
        q_distribution='poseur',
        normalize=normalize)
    _identity_flow(loss)
    pred = torch.tensor([[[0.6, 0.3], [0.0, 0.0]]])
    target = torch.tensor([[[0.5, 0.5], [0.9, 0.9]]])
    sigma = torch.tensor([[[0.25, 0.5], [0.1, 0.1]]])
    # the second keypoint is invisible: it contributes nothing
    weight = torch.tensor([[1.0, 0.0]])
    e = (0.1 / 0.25, -0.2 / 0.5)  # (0.4, −0.4)
    log_g = -math.log(2 * math.pi) - ((e[0] - 0.5)**2 + (e[1] - 0.5)**2) / 2
    expected = sum(
        math.log(s) - log_g + math.log(s * math.sqrt(2 * math.pi)) + d /
        (math.sqrt(2) * s) for s, d in ((0.25, 0.1), (0.5, 0.2))) / count
    assert loss(pred, sigma, target, weight).item() == pytest.approx(
        expected, rel=1e-5)


def _official_poseur_rle(pred, sigma, gt, weight, log_phi):
    """The official ``RLELoss_poseur`` written from its formula (float64
    numpy): with ``ē = (pred − gt)/σ``, ``nf = log σ − log G(ē)``, ``logQ =
    log(σ√(2π)) + |gt − pred| / (√2·σ + 1e-9)``, and ``loss = Σ(nf·w + logQ·w)
    / (B·K')`` with K' the prediction's second dimension."""
    B, K = pred.shape[:2]
    nf = np.log(sigma) - log_phi[..., None]
    log_q = np.log(sigma * math.sqrt(2 * math.pi)) + np.abs(gt - pred) / (
        math.sqrt(2) * sigma + 1e-9)
    return (nf * weight + log_q * weight).sum() / (B * K)


# the coarse stage, a decoder layer with 4 groups, CrowdPose
@pytest.mark.parametrize('K', [17, 68, 14])
def test_poseur_normalisation_is_the_official_per_keypoint_one(K):
    """``normalize='keypoint'`` is the official Poseur loss: Σ / (B·K'), with a
    trained-looking flow."""
    torch.manual_seed(K)
    loss = RLEFlowLoss(
        use_target_weight=True,
        sigma_activation=None,
        prior_mean=0.5,
        q_distribution='poseur',
        normalize='keypoint').double()
    _randomise(loss.flow_model)
    B = 3
    pred = torch.rand(B, K, 2, dtype=torch.float64)
    gt = pred + 0.05 * torch.randn(B, K, 2, dtype=torch.float64)
    sigma = torch.rand(B, K, 2, dtype=torch.float64) * 0.3 + 0.01
    weight = (torch.rand(B, K, 1) > 0.3).double()
    with torch.no_grad():
        log_phi = loss.flow_model.log_prob(
            ((pred - gt) / sigma).reshape(-1, 2)).reshape(B, K).numpy()
        got = loss(pred, sigma, gt, weight).item()
    expected = _official_poseur_rle(pred.numpy(), sigma.numpy(), gt.numpy(),
                                    weight.numpy(), log_phi)
    # ours divides ē by σ + 1e-9 (as MMPose), theirs by σ
    assert got == pytest.approx(expected, rel=1e-6)
    # MMPose's normalisation of the same sum is K times larger
    per_instance = RLEFlowLoss(
        use_target_weight=True,
        sigma_activation=None,
        prior_mean=0.5,
        q_distribution='poseur').double()
    per_instance.load_state_dict(loss.state_dict())
    with torch.no_grad():
        assert per_instance(pred, sigma, gt, weight).item() == pytest.approx(
            got * K, rel=1e-12)


def test_normalize_must_be_known():
    with pytest.raises(ValueError, match='normalize'):
        RLEFlowLoss(normalize='batch')


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
    assert all(
        p.grad is not None and torch.isfinite(p.grad).all()
        for p in loss.parameters())


def test_bad_input():
    loss = RLEFlowLoss(use_target_weight=True)
    # no instances: zero, not NaN, and still differentiable
    pred = torch.zeros(0, 17, 2, requires_grad=True)
    out = loss(pred, torch.zeros(0, 17, 2), torch.zeros(0, 17, 2),
               torch.zeros(0, 17, 1))
    assert out.item() == 0.0
    out.backward()
    # σ logits so negative that sigmoid underflows to 0 in float32: finite, not
    # NaN/inf
    pred, _, target, weight = _inputs()
    out = loss(pred, torch.full_like(pred, -200.0), target, weight)
    assert torch.isfinite(out)
    # all keypoints invisible: exactly zero
    assert loss(pred, torch.zeros_like(pred), target,
                torch.zeros_like(weight)).item() == 0.0
    # K mismatch between head and data
    with pytest.raises(ValueError, match='num_joints'):
        loss(
            torch.zeros(2, 17, 2), torch.zeros(2, 17, 2),
            torch.zeros(2, 14, 2), torch.ones(2, 14, 1))
    with pytest.raises(ValueError, match='target_weight'):
        loss(*_inputs()[:3])
    with pytest.raises(ValueError, match='q_distribution'):
        RLEFlowLoss(q_distribution='cauchy')


# ---------------------------------------------------------------- mixed
# precision, bad input, MMPose's RLEHead
# CPU autocast supports both; fp16 stands in for CUDA's here
HALF = [torch.bfloat16, torch.float16]


@pytest.mark.parametrize('dtype', HALF)
def test_float32_island_under_autocast(dtype):
    """Inside autocast the flow log-prob, the loss and its gradient equal their
    float32 values exactly (autocast is off inside, half inputs are cast up;
    the gradient is the float32 one cast down)."""
    loss = RLEFlowLoss(use_target_weight=True)
    _randomise(loss.flow_model)
    pred, sigma, target, weight = (t.to(dtype) for t in _inputs())
    error = ((pred - target).float() / 0.3).reshape(-1, 2)
    pred.requires_grad_(True)
    pred32 = pred.detach().float().requires_grad_(True)
    expected_log_prob = loss.flow_model.log_prob(error)
    expected = loss(pred32, sigma.float(), target.float(), weight.float())
    with torch.autocast('cpu', dtype=dtype):
        log_prob = loss.log_prob(error)
        got = loss(pred, sigma, target, weight)
        # autocast is really on out here
        assert loss.flow_model.s[0](error).dtype == dtype
    assert log_prob.dtype == got.dtype == torch.float32
    assert torch.equal(log_prob, expected_log_prob)
    assert torch.equal(got, expected)
    got.backward()
    expected.backward()
    assert pred.grad.dtype == dtype and torch.equal(pred.grad,
                                                    pred32.grad.to(dtype))


@pytest.mark.parametrize('name', ['pred', 'sigma', 'target', 'target_weight'])
@pytest.mark.parametrize('bad', [float('nan'), float('inf')])
def test_non_finite_input_is_named_before_the_flow(name, bad):
    """Before: a NaN prediction died in torch.distributions' argument check
    ("Expected value argument ... to be within the support ... of the
    distribution MultivariateNormal"), naming neither the loss nor the
    input."""
    loss = RLEFlowLoss(use_target_weight=True)
    inputs = dict(
        zip(['pred', 'sigma', 'target', 'target_weight'], _inputs(N=2, K=5)))
    inputs[name][1, 3, 0] = bad
    counts = '1 NaN, 0 Inf' if bad != bad else '0 NaN, 1 Inf'
    with pytest.raises(
            NonFiniteError,
            match=rf'^RLEFlowLoss: non-finite input: {name} \({counts} of'):
        loss(**inputs)


def _rle_head(type='RLEHead', **loss):
    return MODELS.build(
        dict(
            type=type,
            in_channels=8,
            num_joints=5,
            loss=dict(type='RLEFlowLoss', use_target_weight=True, **loss),
            decoder=dict(type='RegressionLabel', input_size=(48, 64))))


def _rle_samples(N, K=5):
    samples = []
    for _ in range(N):
        s = PoseDataSample(
            metainfo=dict(flip_indices=list(range(K)), input_size=(48, 64)))
        s.gt_instance_labels = InstanceData(
            keypoint_labels=torch.rand(1, K, 2),
            keypoint_weights=torch.ones(1, K))
        samples.append(s)
    return samples


@pytest.mark.parametrize('N', [1, 3])
def test_with_mmpose_rle_head_at_batch_one(N):
    """MMPose's RLEHead with RLEFlowLoss trains (loss, backward) and predicts
    (with flip test) at N = 1."""
    torch.manual_seed(0)
    head = _rle_head()
    feats = (torch.randn(N, 8), )
    losses = head.loss(feats, _rle_samples(N))
    losses['loss_kpt'].backward()
    assert torch.isfinite(losses['loss_kpt'])
    assert all(
        torch.isfinite(p.grad).all() for p in head.parameters()
        if p.grad is not None)
    preds = head.eval().predict([feats, (torch.randn(N, 8), )],
                                _rle_samples(N), dict(flip_test=True))
    assert len(preds) == N and np.isfinite(
        preds[0].keypoints).all() and preds[0].keypoints.shape == (1, 5, 2)


def test_with_mmpose_rle_head_under_bf16():
    """RLEHead's forward in bf16 (its Linear under autocast) into RLEFlowLoss:
    a float32 loss close to the float32 model's.

    bf16 keeps 8 significant bits (eps = 2^-7): pred and σ logits carry
    relative errors ≤ eps/2, which move the loss (~|ē| + log σ terms of O(1)
    per keypoint) by about that relative amount; we allow eps (measured: ≤ 2e-3
    over 5 seeds). MMPose's RLEHead.loss itself then fails under CPU bf16 in
    its accuracy step (``to_numpy`` of a bf16 tensor: numpy has no bfloat16),
    outside this loss; ``Float32RLEHead`` (below) trains there.
    """
    torch.manual_seed(0)
    head = _rle_head()
    feats = torch.randn(4, 8, requires_grad=True)
    samples = _rle_samples(4)
    labels = torch.cat([s.gt_instance_labels.keypoint_labels for s in samples])
    weights = torch.ones(4, 5, 1)

    def run():
        out = head((feats, ))  # (N, K, 4): coordinates, σ logits
        return head.loss_module(out[..., :2], out[..., 2:], labels,
                                weights), out

    expected, _ = run()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        got, out = run()
    assert out.dtype == torch.bfloat16 and got.dtype == torch.float32
    eps = torch.finfo(torch.bfloat16).eps
    assert abs(got.item() - expected.item()) <= eps * abs(expected.item()), (
        got.item(), expected.item())
    got.backward()
    assert torch.isfinite(feats.grad).all()


def test_float32_rle_head_is_rle_head_outside_autocast():
    """Same weights, same outputs, losses and predictions as MMPose's
    RLEHead."""
    torch.manual_seed(0)
    ours = _rle_head('Float32RLEHead')
    theirs = _rle_head()
    theirs.load_state_dict(ours.state_dict())
    feats = (torch.randn(3, 8), )
    assert torch.equal(ours(feats), theirs(feats))
    samples = _rle_samples(3)
    torch.manual_seed(1)
    a = ours.loss(feats, samples)
    torch.manual_seed(1)
    b = theirs.loss(feats, samples)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_float32_rle_head_trains_and_predicts_under_cpu_bf16():
    """Under CPU bf16 autocast MMPose's RLEHead.loss stops in numpy (no
    bfloat16); Float32RLEHead's forward is float32, so its loss, backward and
    prediction work, within bf16's rounding of the features of the float32
    loss."""
    torch.manual_seed(0)
    head = _rle_head('Float32RLEHead')
    mmpose_head = _rle_head()
    mmpose_head.load_state_dict(head.state_dict())
    feats = torch.randn(4, 8)
    samples = _rle_samples(4)
    expected = head.loss((feats, ), samples)['loss_kpt']
    with torch.autocast('cpu', dtype=torch.bfloat16):
        with pytest.raises(TypeError, match='BFloat16'):
            mmpose_head.loss((feats.bfloat16(), ), samples)
        # features as an autocast backbone hands them over: bf16
        x = feats.bfloat16().requires_grad_()
        out = head((x, ))
        losses = head.loss((x, ), samples)
        preds = head.eval().predict([(x, ), (x, )], samples,
                                    dict(flip_test=True))
    assert out.dtype == torch.float32
    got = losses['loss_kpt']
    # the features rounded to bf16 (relative eps/2 each) move the O(1)
    # per-keypoint loss terms by about that much
    eps = torch.finfo(torch.bfloat16).eps
    assert abs(got.item() -
               expected.item()) <= 4 * eps * abs(expected.item()), (
                   got.item(), expected.item())
    got.backward()
    assert torch.isfinite(x.grad).all() and x.grad.dtype == torch.bfloat16
    assert len(preds) == 4 and np.isfinite(preds[0].keypoints).all()


def test_nan_prediction_from_rle_head_names_the_loss_and_input():
    head = _rle_head()
    with pytest.raises(
            NonFiniteError,
            match=
            r'RLEFlowLoss: non-finite input: pred \(10 NaN.*sigma \(10 NaN'):
        head.loss((torch.full((1, 8), float('nan')), ), _rle_samples(1))
