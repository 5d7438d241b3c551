"""RTMOSineCCHead against MMPose 1.3.2's RTMOHead (weights copied: same losses,
same predictions; in float64, where the two differ by rounding only), its
exported top-k graph against predict and onnxruntime, a batch of one, bf16
autocast, non-finite input, and a few training steps of a tiny model on the
bundled COCO / CrowdPose images."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.logging import MessageHub, MMLogger
from mmengine.registry import DefaultScope
from mmpose.engine.hooks import RTMOModeSwitchHook
from mmpose.registry import MODELS

from mmpose_ext.deploy import InferencePath
from mmpose_ext.models.common import NonFiniteError
from mmpose_ext.models.coord_cls import RTMOSineCCHead
from ._bottomup import bottomup_batch, head_cfg, tiny_model_cfg
from ._tolerance import EPS32, graph_atol


def _pair(K, num_dets=100, dtype=torch.float32):
    """(MMPose's RTMOHead, ours) with the same weights; non-trivial BatchNorm
    statistics in the DCC."""
    ref = MODELS.build(head_cfg(K, 'RTMOHead'))
    ours = MODELS.build(head_cfg(K, num_dets=num_dets))
    bn = ref.dcc.pose_to_kpts[1]
    bn.running_mean.uniform_(-0.5, 0.5)
    bn.running_var.uniform_(0.5, 2.0)
    assert isinstance(ours, RTMOSineCCHead)
    # same parameter names: an MMPose RTMO state dict loads as is
    ours.load_state_dict(ref.state_dict())
    return ref.to(dtype), ours.to(dtype)


def _feats(B, size=160, channels=64, dtype=torch.float32):
    """Random two-level features (B, 2C, size/16, size/16), (B, 2C, size/32,
    size/32) taking a gradient."""
    return (torch.randn(B, channels, size // 16, size // 16,
                        dtype=dtype).requires_grad_(True),
            torch.randn(B, channels, size // 32, size // 32,
                        dtype=dtype).requires_grad_(True))


# float64 comparisons with MMPose's head: the two differ in the order of
# operations only (DCC fast path, mean of the MLE loss), ~1e-15 relative; 1e-10
# leaves room for the conditioning of the DCC's soft-argmax.
F64 = dict(rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize('K', [17, 14])
@pytest.mark.parametrize('stage', [1, 2], ids=['stage1', 'stage2-proxy-cc'])
def test_losses_equal_mmpose_rtmo_head(K, stage):
    """Same SimOTA assignment, same box/vis/OKS/cls losses; our CoordMLELoss (a
    scalar) equals the mean of MMPose's per-instance MLECCLoss (what MMPose's
    runner reduces it to).

    Stage 2 is what MMPose's RTMOModeSwitchHook sets at epoch 280 (proxy
    targets from the DCC, MLE ×5, OKS ×10).
    """
    _, samples = bottomup_batch(K)
    ref, ours = _pair(K, dtype=torch.float64)
    # MMPose's hook, with the RTMO recipe's epoch-280 attributes, on both heads
    if stage == 2:
        hook = RTMOModeSwitchHook(
            epoch_attributes={
                280: {
                    'proxy_target_cc': True,
                    'loss_mle.loss_weight': 5.0,
                    'loss_oks.loss_weight': 10.0
                }
            })
        for head in (ref, ours):
            runner = SimpleNamespace(
                epoch=280,
                model=SimpleNamespace(head=head),
                logger=MMLogger.get_current_instance())
            hook.before_train_epoch(runner)
        assert (ours.proxy_target_cc and ours.loss_mle.loss_weight == 5.0
                and ours.loss_oks.loss_weight == 10.0)
    feats = _feats(len(samples), dtype=torch.float64)
    ref_losses = ref.loss(feats, samples)
    losses = ours.loss(feats, samples)
    assert set(losses) == set(ref_losses) and losses['num_samples'] > 0
    for name, value in ref_losses.items():
        got = losses[name]
        # MMPose: per instance (N,), reduced by the runner; ours: that mean
        if name == 'loss_mle':
            value = value.mean()
        torch.testing.assert_close(got, value, **F64, msg=name)
    # and the gradients that reach the features agree (DCC and MLE included)
    g_ref = torch.autograd.grad(
        sum(v.mean() for k, v in ref_losses.items() if k.startswith('loss')),
        feats[0])
    g_ours = torch.autograd.grad(
        sum(v.mean() for k, v in losses.items() if k.startswith('loss')),
        feats[0])
    torch.testing.assert_close(g_ours[0], g_ref[0], **F64)


@pytest.mark.parametrize('K', [17, 14])
def test_predict_equals_mmpose_rtmo_head(K):
    _, samples = bottomup_batch(K)
    ref, ours = _pair(K, dtype=torch.float64)
    ref.eval(), ours.eval()
    feats = _feats(len(samples), dtype=torch.float64)
    cfg = dict(score_thr=0.3, nms_thr=0.65)
    with torch.no_grad():
        ref_preds = ref.predict(feats, samples, cfg)
        preds = ours.predict(feats, samples, cfg)
    assert sum(len(p.scores) for p in preds) > 0
    for p, r in zip(preds, ref_preds):
        assert p.keypoints.shape == r.keypoints.shape and p.keypoints.shape[
            1:] == (K, 2)
        np.testing.assert_array_equal(p.labels, r.labels)
        for key in ('scores', 'bboxes', 'keypoint_scores', 'keypoints'):
            np.testing.assert_allclose(p[key], r[key], **F64, err_msg=key)


@pytest.mark.parametrize('K', [17, 14])
def test_forward_is_predicts_top_k_without_nms(K):
    """forward (the exported graph) = predict with no threshold, no NMS and
    nms_pre = num_dets (boxes before clipping)."""
    _, samples = bottomup_batch(K)
    # batched vs per-image DCC: ~1e-15 apart
    _, ours = _pair(K, num_dets=20, dtype=torch.float64)
    ours.eval()
    feats = _feats(len(samples), dtype=torch.float64)
    with torch.no_grad():
        bboxes, scores, keypoints, kpt_scores = ours(feats)
        preds = ours.predict(feats, samples,
                             dict(score_thr=0.0, nms_thr=1.0, nms_pre=20))
    B = len(samples)
    assert bboxes.shape == (B, 20, 4) and keypoints.shape == (
        B, 20, K, 2) and kpt_scores.shape == (B, 20, K)
    for i, p in enumerate(preds):
        np.testing.assert_allclose(scores[i].numpy(), p.scores, **F64)
        np.testing.assert_allclose(keypoints[i].numpy(), p.keypoints, **F64)
        np.testing.assert_allclose(kpt_scores[i].numpy(), p.keypoint_scores,
                                   **F64)
        np.testing.assert_allclose(bboxes[i].clamp(0, 160).numpy(), p.bboxes,
                                   **F64)
    assert (scores[:, :-1] >= scores[:, 1:]).all()  # descending


def test_forward_keeps_every_grid_point_without_num_dets():
    """num_dets=None: the graph returns all P grid points (sorted), i.e.
    predict's candidates before its threshold and NMS, so thresholding and NMS
    after the graph keep the same people as predict."""
    K = 17
    _, samples = bottomup_batch(K)
    _, ours = _pair(K, num_dets=None, dtype=torch.float64)
    ours.eval()
    feats = _feats(len(samples), dtype=torch.float64)
    P = sum(f.shape[2] * f.shape[3] for f in feats)
    with torch.no_grad():
        bboxes, scores, keypoints, _ = ours(feats)
        preds = ours.predict(feats, samples,
                             dict(score_thr=0.0, nms_thr=1.0, nms_pre=P))
    assert bboxes.shape[:2] == scores.shape == (len(samples),
                                                P) and keypoints.shape[1] == P
    for i, p in enumerate(preds):
        np.testing.assert_allclose(scores[i].numpy(), p.scores, **F64)
        np.testing.assert_allclose(keypoints[i].numpy(), p.keypoints, **F64)


def _tiny_model(K):
    cfg = tiny_model_cfg(K)
    with DefaultScope.overwrite_default_scope('mmpose'):
        model = MODELS.build(cfg)
    model.init_weights()
    return model


@pytest.mark.parametrize('opset', [13, 17])
def test_onnx_export_matches_onnxruntime(tmp_path, opset):
    """Per output, ORT within C_GRAPH · EPS32 of PyTorch's magnitude (boxes and
    keypoints: pixels; scores:

    probabilities, scale 1); see ``_tolerance.py``.
    """
    ort = pytest.importorskip('onnxruntime')
    from mmpose_ext.deploy import export_onnx

    model = _tiny_model(14).eval()
    model.head.num_dets = 30
    path = export_onnx(
        model,
        tmp_path / 'rtmo.onnx',
        input_shape=(1, 3, 160, 160),
        opset=opset)
    inputs = torch.rand(2, 3, 160, 160) * 255  # dynamic batch
    outs = ort.InferenceSession(
        str(path),
        providers=['CPUExecutionProvider']).run(None,
                                                {'input': inputs.numpy()})
    with torch.no_grad():
        refs = [t.numpy() for t in InferencePath(model).eval()(inputs)]
    assert len(outs) == 4  # boxes, scores, keypoints, keypoint scores
    names = ('boxes', 'scores', 'keypoints', 'keypoint_scores')
    probability = (False, True, False, True)
    for name, o, r, prob in zip(names, outs, refs, probability):
        assert o.shape == r.shape, name
        diff, tol = np.abs(o - r).max(), graph_atol(r, probability=prob)
        assert diff <= tol, (name, diff, tol,
                             diff / (EPS32 * (1 if prob else np.abs(r).max())))


@pytest.mark.parametrize('K', [17, 14])
def test_tiny_model_trains_on_bundled_images(K):
    """CSPNeXt (widen 0.125) → ChannelMapper → our head, 160x160 images of the
    bundled dataset, AdamW (RTMO's optimiser; its grad clip 0.1 is relaxed to
    10 for 8 steps): finite losses at every step, a gradient on every DCC
    parameter, and the total loss goes down."""
    inputs, samples = bottomup_batch(K)
    model = _tiny_model(K).train()
    optim = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.0)
    totals = []
    for step in range(8):
        losses = model(inputs, samples, mode='loss')
        assert 'loss_mle' in losses
        total = sum(v.mean() for k, v in losses.items()
                    if k.startswith('loss'))
        assert torch.isfinite(total), {k: v for k, v in losses.items()}
        optim.zero_grad()
        total.backward()
        if step == 0:
            missing = [
                n for n, p in model.head.dcc.named_parameters()
                if p.grad is None or not p.grad.abs().sum() > 0
            ]
            assert not missing, missing
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        optim.step()
        totals.append(total.item())
    assert all(np.isfinite(totals)) and min(totals[-3:]) < totals[0], totals


def test_empty_image_and_keypoint_mismatch():
    """An image without instances contributes only negatives (MMPose's
    behaviour); a dataset with a different K is a clear error."""
    _, samples = bottomup_batch(17)
    _, ours = _pair(17)
    samples = [s.clone() for s in samples[:2]]
    samples[0].gt_instance_labels = samples[0].gt_instance_labels[torch.zeros(
        0, dtype=torch.long)]
    samples[0].gt_instances = samples[0].gt_instances[np.zeros(
        0, dtype=np.int64)]
    losses = ours.loss(_feats(2), samples)
    assert all(
        torch.isfinite(v).all() for k, v in losses.items()
        if k.startswith('loss'))
    _, other = _pair(14)
    with pytest.raises(ValueError, match='14 keypoints'):
        other.loss(_feats(2), samples)


def test_one_image_with_one_positive_trains():
    """A batch of one image holding one person: SimOTA assigns it one grid
    point, so the DCC sees one instance.

    MMPose's head cannot train on it (its DCC's BatchNorm raises); ours equals
    MMPose's head with the DCC's BatchNorm in eval mode (running statistics;
    float64), and every DCC parameter gets a gradient.
    """
    _, samples = bottomup_batch(17)
    samples = samples[:1]  # the bundled image with one person
    ref, ours = _pair(17, dtype=torch.float64)
    feats = _feats(1, dtype=torch.float64)
    with pytest.raises(ValueError, match='more than 1 value per channel'):
        ref.loss(feats, samples)
    ref.dcc.eval()
    ref_losses = ref.loss(feats, samples)
    losses = ours.loss(feats, samples)
    # one positive: the DCC ran on N = 1
    assert float(losses['num_samples']) == 1
    for name, value in ref_losses.items():
        torch.testing.assert_close(
            losses[name],
            value.mean() if name == 'loss_mle' else value,
            **F64,
            msg=name)
    sum(v.mean() for k, v in losses.items() if k.startswith('loss')).backward()
    missing = [
        n for n, p in ours.dcc.named_parameters()
        if p.grad is None or not p.grad.abs().sum() > 0
    ]
    assert not missing, missing
    ours.eval()
    with torch.no_grad():
        preds = ours.predict(feats, samples, dict(score_thr=0.0, nms_pre=1))
    assert preds[0].keypoints.shape == (1, 17, 2)


def test_bf16_autocast_trains_and_predicts():
    """Under CPU bf16 autocast the head module runs in bf16; decoding,
    assignment, losses and the DCC's code product in float32 (see dcc.py):
    float32, finite losses and finite gradients; finite float32 predictions.

    (The DCC's bf16 keypoints against float32 are bounded in test_dcc.py: the
    assignment here moves with the bf16 scores, so losses are not compared term
    by term.)
    """
    _, samples = bottomup_batch(17)
    _, ours = _pair(17)
    feats = _feats(len(samples))
    with torch.autocast('cpu', dtype=torch.bfloat16):
        losses = ours.loss(feats, samples)
        # autocast is on for the convs
        assert ours.head_module(feats)[0][0].dtype == torch.bfloat16
    terms = {k: v for k, v in losses.items() if k.startswith('loss')}
    assert set(terms) == {
        'loss_bbox', 'loss_vis', 'loss_mle', 'loss_oks', 'loss_cls'
    }
    for name, value in terms.items():
        assert value.dtype == torch.float32 and torch.isfinite(
            value).all(), name
    sum(v.mean() for v in terms.values()).backward()
    grads = [p.grad for p in ours.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    ours.eval()
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        preds = ours.predict(feats, samples, dict(score_thr=0.0, nms_pre=20))
    for p in preds:
        assert len(p.keypoints
                   ) == 20 and p.keypoints.dtype == np.float32 and np.isfinite(
                       p.keypoints).all()
        assert np.isfinite(p.keypoint_scores).all() and np.isfinite(
            p.bboxes).all()


@pytest.fixture
def _iteration():
    """A message hub at training iteration 41, as MMEngine's RuntimeInfoHook
    leaves it."""
    hub = MessageHub.get_instance('test_rtmo_sine_cc_head')
    hub.update_info('iter', 41)
    yield 41
    # check_finite then names no iteration, as outside a runner
    hub.update_info('iter', None)


def test_non_finite_features_stop_loss_and_predict(_iteration):
    """A NaN in the features stops loss() before the assignment (and the
    optimizer update) and predict() before the score threshold would drop it
    silently, naming the head, the terms and the iteration."""
    _, samples = bottomup_batch(17)
    _, ours = _pair(17)
    feats = tuple(f.detach().clone() for f in _feats(2))
    feats[0][0, :, 2, 3] = float('nan')
    with pytest.raises(
            NonFiniteError,
            match=
            r'RTMOSineCCHead: non-finite output at iteration 41: .*pose_vecs '
            r'.*stopped before .*optimizer update.*features reaching the '
            r'head are already non-finite'):
        ours.loss(feats, samples[:2])
    ours.eval()
    with pytest.raises(
            NonFiniteError,
            match=
            r'RTMOSineCCHead: non-finite prediction at iteration 41: .*scores'
    ):
        ours.predict(feats, samples[:2], dict(score_thr=0.3))


def test_clear_construction_errors():
    with pytest.raises(ValueError, match='num_dets'):
        MODELS.build(head_cfg(17, num_dets=0))
