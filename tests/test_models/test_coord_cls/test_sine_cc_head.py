"""SineCoordClsHead: shapes with K=17/14 on the bundled data, both losses,
flip-TTA, σ scores, errors, a batch of one, bf16 autocast, non-finite input,
ONNX export, and overfitting a fixed batch."""
import math

import numpy as np
import pytest
import torch
from mmengine.logging import MessageHub
from mmpose.registry import MODELS

from mmpose_ext.deploy import InferencePath
from mmpose_ext.models.common import NonFiniteError
from mmpose_ext.models.coord_cls.dcc import bin_softmax
from ._data import fixture_batch
from ._tolerance import EPS32, expectation_bound, graph_atol, sum_atol

GAU = dict(
    s=16,
    expansion_factor=2,
    dropout_rate=0.0,
    drop_path=0.0,
    act_fn='SiLU',
    pos_enc='add')


def _head(K, **kw):
    cfg = dict(
        type='SineCoordClsHead',
        in_channels=32,
        num_keypoints=K,
        input_size=(48, 64),
        in_featuremap_size=(3, 4),
        feat_channels=32,
        spe_channels=32,
        gau_cfg=GAU)
    cfg.update(kw)
    return MODELS.build(cfg)


@pytest.mark.parametrize('K', [17, 14])
def test_forward_and_mle_loss_on_bundled_data(K):
    _, samples = fixture_batch(K)
    head = _head(K)
    feats = (torch.randn(len(samples), 32, 4, 3), )
    x_logits, y_logits, kpts, sigma = head(feats)
    B = len(samples)
    assert x_logits.shape == (B, K, 96) and y_logits.shape == (B, K, 128)
    assert kpts.shape == (B, K, 2) and sigma.shape == (B, K)
    losses = head.loss(feats, samples)
    assert set(losses) == {'loss_kpt', 'acc_pose'} and torch.isfinite(
        losses['loss_kpt'])
    losses['loss_kpt'].backward()
    assert all(p.grad is not None for p in head.parameters())


def test_kl_loss_with_simcc_labels():
    codec = dict(
        type='SimCCLabel',
        input_size=(48, 64),
        sigma=(4.9, 5.66),
        simcc_split_ratio=2.0)
    _, samples = fixture_batch(17, codec=codec)
    head = _head(
        17,
        loss=dict(
            type='KLDiscretLoss',
            use_target_weight=True,
            beta=10.,
            label_softmax=True))
    losses = head.loss((torch.randn(len(samples), 32, 4, 3), ), samples)
    assert torch.isfinite(losses['loss_kpt']) and losses['loss_kpt'] > 0


def test_predict_flip_and_scores():
    """float64, so that recomputations in another summation order stay ~1e-15
    relative (1e-12 below) and the keypoints (pixels ≤ 64) within 1e-9."""
    _, samples = fixture_batch(14)
    head = _head(14).double().eval()
    feats = (torch.randn(len(samples), 32, 4, 3, dtype=torch.float64), )
    feats_flip = (torch.randn(len(samples), 32, 4, 3, dtype=torch.float64), )
    with torch.no_grad():
        _, _, kpts, sigma = head(feats)
        _, _, kpts_f, sigma_f = head(feats_flip)
        # to pixels
        kpts, kpts_f = kpts * torch.tensor([48., 64.]), kpts_f * torch.tensor(
            [48., 64.])
        plain = head.predict(feats, samples, dict(flip_test=False))
        fused = head.predict([feats, feats_flip], samples,
                             dict(flip_test=True))
    assert len(plain) == len(samples) and plain[0].keypoints.shape == (1, 14,
                                                                       2)
    np.testing.assert_allclose(
        np.concatenate([p.keypoints for p in plain]),
        kpts.numpy(),
        rtol=0,
        atol=1e-9)
    # score = (1 − exp(−0.1 / (2σ)))² (Laplace of scale 2σ, radius 0.1, both
    # axes)
    expected = (1 - np.exp(-0.1 / (2 * sigma.numpy())))**2
    np.testing.assert_allclose(
        np.concatenate([p.keypoint_scores for p in plain]),
        expected,
        rtol=1e-12)
    flip = samples[0].metainfo['flip_indices']
    mirrored = kpts_f.numpy()[:, flip].copy()
    mirrored[..., 0] = 48 - 1 - mirrored[..., 0]
    np.testing.assert_allclose(
        np.concatenate([p.keypoints for p in fused]),
        (kpts.numpy() + mirrored) / 2,
        rtol=0,
        atol=1e-9)
    sig = (sigma.numpy() + sigma_f.numpy()[:, flip]) / 2
    np.testing.assert_allclose(
        np.concatenate([p.keypoint_scores for p in fused]),
        (1 - np.exp(-0.1 / (2 * sig)))**2,
        rtol=1e-12)


def test_clear_errors():
    _, samples = fixture_batch(14)
    head = _head(17)
    feats = (torch.randn(len(samples), 32, 4, 3), )
    with pytest.raises(ValueError, match='num_keypoints'):
        head.loss(feats, samples)
    with pytest.raises(ValueError, match='in_featuremap_size'):
        head((torch.randn(2, 32, 8, 6), ))
    codec = dict(
        type='SimCCLabel',
        input_size=(48, 64),
        sigma=6.0,
        simcc_split_ratio=2.0)
    _, samples = fixture_batch(14, codec=codec)
    with pytest.raises(KeyError, match='RegressionLabel'):
        _head(14).loss((torch.randn(len(samples), 32, 4, 3), ), samples)


def test_batch_of_one_trains_and_predicts():
    """One instance: the loss is finite and reaches every parameter (the DCC's
    BatchNorm uses its running statistics for it, see test_dcc.py); prediction
    gives one instance, with and without flip test."""
    _, samples = fixture_batch(17)
    head = _head(17)
    feats = (torch.randn(1, 32, 4, 3), )
    losses = head.loss(feats, samples[:1])
    assert torch.isfinite(losses['loss_kpt'])
    losses['loss_kpt'].backward()
    missing = [
        n for n, p in head.named_parameters()
        if p.grad is None or not p.grad.abs().sum() > 0
    ]
    assert not missing, missing
    head.eval()
    with torch.no_grad():
        for cfg, inputs in ((dict(flip_test=False), feats),
                            (dict(flip_test=True), [feats, feats])):
            preds = head.predict(inputs, samples[:1], cfg)
            assert len(preds) == 1 and preds[0].keypoints.shape == (1, 17, 2)
            assert np.isfinite(preds[0].keypoints).all() and np.isfinite(
                preds[0].keypoint_scores).all()


def test_bf16_autocast_trains_and_predicts():
    """Under CPU bf16 autocast the conv and the DCC's keypoint features run in
    bf16; logits, keypoints, σ, the MLE loss and the scores are float32 and
    finite, and gradients finite. Against float32:

    - the loss is the float32 CoordMLELoss of the bf16 run's outputs (two sums
      of B terms per keypoint, relative γ_B each, in the log: 2·γ_B);
    - keypoints within what the logit changes allow the softmax expectation
      (``expectation_bound``);
    - the logit changes themselves are bounded in test_dcc.py (C_BF16).
    """
    _, samples = fixture_batch(17)
    head = _head(17)
    feats = (torch.randn(len(samples), 32, 4, 3), )
    with torch.no_grad():
        x32, _, kpts32, _ = head(feats)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        x16, y16, kpts16, sigma16 = head(feats)
        losses = head.loss(feats, samples)
    for t in (x16, y16, kpts16, sigma16, losses['loss_kpt']):
        assert t.dtype == torch.float32 and torch.isfinite(t).all()
    losses['loss_kpt'].backward()
    assert all(
        torch.isfinite(p.grad).all() for p in head.parameters()
        if p.grad is not None)

    size = torch.tensor(head.input_size, dtype=torch.float32)
    labels = [s.gt_instance_labels for s in samples]
    targets = torch.cat([lab.keypoint_labels for lab in labels]) * size
    weights = torch.cat([lab.keypoint_weights for lab in labels])
    x_bins, y_bins = head.dcc.bin_coords()
    expected = head.loss_module(x16, y16, x_bins, y_bins, sigma16,
                                targets, weights,
                                torch.full((len(samples), ), head.area))
    torch.testing.assert_close(
        losses['loss_kpt'].detach(),
        expected.detach(),
        rtol=0,
        atol=2 * sum_atol(len(y_bins), 1.0))
    dev = (x16 - x32).detach()
    assert dev.abs().max() > 0  # the features did run in bf16
    bound = expectation_bound(dev, bin_softmax(x32), x_bins,
                              kpts32[..., 0] * size[0])
    assert ((kpts16[..., 0] - kpts32[..., 0]).abs() * size[0] <= bound).all()

    head.eval()
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        preds = head.predict([feats, feats], samples, dict(flip_test=True))
    kpts = np.concatenate([p.keypoints for p in preds])
    assert kpts.dtype == np.float32 and np.isfinite(kpts).all()
    assert np.isfinite(np.concatenate([p.keypoint_scores
                                       for p in preds])).all()


def test_non_finite_features_stop_loss_and_predict():
    """A NaN in the features stops loss() before the loss and the optimizer
    update, and predict(), with a message naming the head, the terms, the
    iteration and where to look."""
    _, samples = fixture_batch(17)
    head = _head(17)
    feats = (torch.randn(len(samples), 32, 4, 3), )
    feats[0][1, 5, 2, 1] = float('nan')
    hub = MessageHub.get_instance('test_sine_cc_head')
    hub.update_info('iter', 12)
    try:
        with pytest.raises(
                NonFiniteError,
                match=r'SineCoordClsHead: non-finite output at iteration 12: '
                r'x_logits '
                r'\(\d+ NaN.*optimizer update.*features reaching the head '
                r'are already non-finite'):
            head.loss(feats, samples)
        head.eval()
        with pytest.raises(
                NonFiniteError,
                match=
                r'SineCoordClsHead: non-finite prediction at iteration 12: '
                r'keypoints'):
            head.predict(feats, samples, dict(flip_test=False))
    finally:
        # check_finite then names no iteration, as outside a runner
        hub.update_info('iter', None)


def _tiny_model(K, input_size=(96, 128), gau=True):
    w, h = input_size
    return MODELS.build(
        dict(
            type='TopdownPoseEstimator',
            backbone=dict(
                type='ResNet', depth=18, base_channels=16, init_cfg=None),
            head=dict(
                type='SineCoordClsHead',
                in_channels=128,
                num_keypoints=K,
                input_size=input_size,
                in_featuremap_size=(w // 32, h // 32),
                feat_channels=64,
                spe_channels=64,
                gau_cfg=dict(GAU, s=32) if gau else None),
            test_cfg=dict(flip_test=True)))


@pytest.mark.parametrize('opset', [13, 17])
def test_onnx_export_matches_onnxruntime(tmp_path, opset):
    """Per output (logits, normalised keypoints, σ), ORT within C_GRAPH ·
    EPS32.

    · max |PyTorch| (see ``_tolerance.py``).
    """
    ort = pytest.importorskip('onnxruntime')
    from mmpose_ext.deploy import export_onnx

    model = _tiny_model(14).eval()
    path = export_onnx(
        model,
        tmp_path / 'head.onnx',
        input_shape=(2, 3, 128, 96),
        opset=opset)
    inputs = torch.randn(3, 3, 128, 96)  # dynamic batch
    outs = ort.InferenceSession(
        str(path),
        providers=['CPUExecutionProvider']).run(None,
                                                {'input': inputs.numpy()})
    with torch.no_grad():
        refs = [t.numpy() for t in InferencePath(model).eval()(inputs)]
    assert len(outs) == 4
    for name, o, r in zip(('x_logits', 'y_logits', 'keypoints', 'sigma'), outs,
                          refs):
        assert o.shape == r.shape, name
        diff, tol = np.abs(o - r).max(), graph_atol(r)
        assert diff <= tol, (name, diff, tol, diff / (EPS32 * np.abs(r).max()))


def test_overfits_a_fixed_batch_of_bundled_images():
    """The head alone learns: features of 12 real COCO instances from a fixed
    (random, frozen) backbone, the head trained with CoordMLELoss until its
    keypoints fit them.

    Backbone frozen and no GAU to keep CPU CI short (with the GAU the same fit
    takes several times more steps: 45 → 11 px in 150 steps).
    """
    inputs, samples = fixture_batch(17, input_size=(96, 128), max_instances=12)
    model = _tiny_model(17, gau=False)
    with torch.no_grad():
        feats = model.extract_feat(inputs)
    head = model.head
    opt = torch.optim.Adam(head.parameters(), lr=3e-3)
    targets = torch.cat(
        [s.gt_instance_labels.keypoint_labels
         for s in samples]) * torch.tensor([96., 128.])
    vis = torch.cat([s.gt_instance_labels.keypoint_weights
                     for s in samples]) > 0

    def pixel_error():
        head.eval()
        with torch.no_grad():
            # (B, K, 2) pixels
            kpts = head(feats)[2] * torch.tensor([96., 128.])
        head.train()
        return (kpts - targets).norm(dim=-1)[vis].mean().item()

    err0 = pixel_error()
    losses = []
    for _ in range(50):
        loss = head.loss(feats, samples)['loss_kpt']
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    err1 = pixel_error()
    print(f'overfit: loss {losses[0]:.3f} -> {losses[-1]:.3f}, mean error '
          f'{err0:.2f} -> {err1:.2f} px')
    assert all(math.isfinite(v) for v in losses)
    # log-likelihood gained > 2 nats per keypoint
    assert losses[-1] < losses[0] - 2.0
    assert err1 < err0 / 4, (err0, err1)  # measured: 33.7 → 3.5 px


def test_calibrated_defaults_and_the_rtmo_layout():
    """By default each keypoint's map becomes its own feature and the logits
    are scaled by 1/√C (softmax near uniform at the start); input_mode='pose'
    builds RTMO's layout (one pose vector, Linear + BatchNorm)."""
    head = MODELS.build(
        dict(
            type='SineCoordClsHead',
            in_channels=32,
            num_keypoints=17,
            input_size=(48, 64),
            in_featuremap_size=(3, 4)))
    dcc = head.dcc
    assert dcc.input_mode == 'keypoint'
    assert isinstance(dcc.gau, torch.nn.Identity)  # no GAU by default
    assert dcc.logit_scale == pytest.approx(1 / math.sqrt(128))
    assert dcc.pose_to_kpts[1].weight.shape == (128, 12)  # h·w = 12
    x_logits, _, _, _ = head((torch.randn(4, 32, 4, 3), ))
    top = x_logits.softmax(-1).amax(-1)
    assert top.max() < 5 / 96, top.max()  # uniform over 96 bins: 0.010
    old = _head(17, input_mode='pose', logit_scale=1.0, gau_init='mmpose')
    assert old.dcc.pose_to_kpts[0].weight.shape == (17 * 32, 17 * 12)
    assert old((torch.randn(4, 32, 4, 3), ))[0].shape == (4, 17, 96)


@pytest.mark.parametrize('bad', [0, -0.5, float('nan'), 'rsqrt2'])
def test_bad_logit_scale_names_the_head(bad):
    with pytest.raises(ValueError, match='SineCoordClsHead.*logit_scale'):
        _head(17, logit_scale=bad)
