"""RTMOSineCCHead against MMPose 1.3.2's RTMOHead (weights copied: same losses, same predictions), its
exported top-k graph against predict and onnxruntime, and a few training steps of a tiny model on the
bundled COCO / CrowdPose images."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope

from mmpose.engine.hooks import RTMOModeSwitchHook
from mmpose.registry import MODELS
from mmpose_ext.models.coord_cls import RTMOSineCCHead
from ._bottomup import bottomup_batch, head_cfg, tiny_model_cfg


def _pair(K, num_dets=100):
    """(MMPose's RTMOHead, ours) with the same weights; non-trivial BatchNorm statistics in the DCC."""
    ref = MODELS.build(head_cfg(K, 'RTMOHead'))
    ours = MODELS.build(head_cfg(K, num_dets=num_dets))
    bn = ref.dcc.pose_to_kpts[1]
    bn.running_mean.uniform_(-0.5, 0.5)
    bn.running_var.uniform_(0.5, 2.0)
    assert isinstance(ours, RTMOSineCCHead)
    ours.load_state_dict(ref.state_dict())  # same parameter names: an MMPose RTMO state dict loads as is
    return ref, ours


def _feats(B, size=160, channels=64):
    """Random two-level features (B, 2C, size/16, size/16), (B, 2C, size/32, size/32) taking a gradient."""
    return (torch.randn(B, channels, size // 16, size // 16).requires_grad_(True),
            torch.randn(B, channels, size // 32, size // 32).requires_grad_(True))


@pytest.mark.parametrize('K', [17, 14])
@pytest.mark.parametrize('stage', [1, 2], ids=['stage1', 'stage2-proxy-cc'])
def test_losses_equal_mmpose_rtmo_head(K, stage):
    """Same SimOTA assignment, same box/vis/OKS/cls losses; our CoordMLELoss (a scalar) equals the mean of
    MMPose's per-instance MLECCLoss (what MMPose's runner reduces it to). Stage 2 is what MMPose's
    RTMOModeSwitchHook sets at epoch 280 (proxy targets from the DCC, MLE ×5, OKS ×10)."""
    _, samples = bottomup_batch(K)
    ref, ours = _pair(K)
    if stage == 2:  # MMPose's hook, with the RTMO recipe's epoch-280 attributes, on both heads
        hook = RTMOModeSwitchHook(epoch_attributes={
            280: {'proxy_target_cc': True, 'loss_mle.loss_weight': 5.0, 'loss_oks.loss_weight': 10.0}})
        for head in (ref, ours):
            runner = SimpleNamespace(epoch=280, model=SimpleNamespace(head=head), logger=MMLogger.get_current_instance())
            hook.before_train_epoch(runner)
        assert ours.proxy_target_cc and ours.loss_mle.loss_weight == 5.0 and ours.loss_oks.loss_weight == 10.0
    feats = _feats(len(samples))
    ref_losses = ref.loss(feats, samples)
    losses = ours.loss(feats, samples)
    assert set(losses) == set(ref_losses) and losses['num_samples'] > 0
    for name, value in ref_losses.items():
        got = losses[name]
        if name == 'loss_mle':  # MMPose: per instance (N,), reduced by the runner; ours: that mean
            value = value.mean()
        torch.testing.assert_close(got, value, rtol=1e-5, atol=1e-5, msg=name)
    # and the gradients that reach the features agree (DCC and MLE included)
    g_ref = torch.autograd.grad(sum(v.mean() for k, v in ref_losses.items() if k.startswith('loss')), feats[0])
    g_ours = torch.autograd.grad(sum(v.mean() for k, v in losses.items() if k.startswith('loss')), feats[0])
    torch.testing.assert_close(g_ours[0], g_ref[0], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize('K', [17, 14])
def test_predict_equals_mmpose_rtmo_head(K):
    _, samples = bottomup_batch(K)
    ref, ours = _pair(K)
    ref.eval(), ours.eval()
    feats = _feats(len(samples))
    cfg = dict(score_thr=0.3, nms_thr=0.65)
    with torch.no_grad():
        ref_preds = ref.predict(feats, samples, cfg)
        preds = ours.predict(feats, samples, cfg)
    assert sum(len(p.scores) for p in preds) > 0
    for p, r in zip(preds, ref_preds):
        assert p.keypoints.shape == r.keypoints.shape and p.keypoints.shape[1:] == (K, 2)
        for key in ('scores', 'labels', 'bboxes', 'keypoint_scores'):
            np.testing.assert_array_equal(p[key], r[key])
        np.testing.assert_allclose(p.keypoints, r.keypoints, rtol=0, atol=1e-4)


@pytest.mark.parametrize('K', [17, 14])
def test_forward_is_predicts_top_k_without_nms(K):
    """forward (the exported graph) = predict with no threshold, no NMS and nms_pre = num_dets (boxes
    before clipping)."""
    _, samples = bottomup_batch(K)
    _, ours = _pair(K, num_dets=20)
    ours.eval()
    feats = _feats(len(samples))
    with torch.no_grad():
        bboxes, scores, keypoints, kpt_scores = ours(feats)
        preds = ours.predict(feats, samples, dict(score_thr=0.0, nms_thr=1.0, nms_pre=20))
    B = len(samples)
    assert bboxes.shape == (B, 20, 4) and keypoints.shape == (B, 20, K, 2) and kpt_scores.shape == (B, 20, K)
    for i, p in enumerate(preds):
        np.testing.assert_allclose(scores[i].numpy(), p.scores, rtol=0, atol=1e-7)
        np.testing.assert_allclose(keypoints[i].numpy(), p.keypoints, rtol=0, atol=1e-5)
        np.testing.assert_allclose(kpt_scores[i].numpy(), p.keypoint_scores, rtol=0, atol=1e-7)
        np.testing.assert_allclose(bboxes[i].clamp(0, 160).numpy(), p.bboxes, rtol=0, atol=1e-5)
    assert (scores[:, :-1] >= scores[:, 1:]).all()  # descending


def _tiny_model(K):
    cfg = tiny_model_cfg(K)
    with DefaultScope.overwrite_default_scope('mmpose'):
        model = MODELS.build(cfg)
    model.init_weights()
    return model


@pytest.mark.parametrize('opset', [13, 17])
def test_onnx_export_matches_onnxruntime(tmp_path, opset):
    pytest.importorskip('onnxruntime')
    import onnx

    from mmpose_ext.deploy import check_onnx, export_onnx

    model = _tiny_model(14).eval()
    model.head.num_dets = 30
    path = export_onnx(model, tmp_path / 'rtmo.onnx', input_shape=(1, 3, 160, 160), opset=opset)
    outputs = [o.name for o in onnx.load(str(path)).graph.output]
    assert len(outputs) == 4  # boxes, scores, keypoints, keypoint scores
    inputs = torch.rand(2, 3, 160, 160) * 255  # dynamic batch
    diff = check_onnx(model, path, inputs)
    assert diff <= 1e-4, diff


@pytest.mark.parametrize('K', [17, 14])
def test_tiny_model_trains_on_bundled_images(K):
    """CSPNeXt (widen 0.125) → ChannelMapper → our head, 160x160 images of the bundled dataset, AdamW
    (RTMO's optimiser; its grad clip 0.1 is relaxed to 10 for 8 steps): finite losses at every step, a
    gradient on every DCC parameter, and the total loss goes down."""
    inputs, samples = bottomup_batch(K)
    model = _tiny_model(K).train()
    optim = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.0)
    totals = []
    for step in range(8):
        losses = model(inputs, samples, mode='loss')
        assert 'loss_mle' in losses
        total = sum(v.mean() for k, v in losses.items() if k.startswith('loss'))
        assert torch.isfinite(total), {k: v for k, v in losses.items()}
        optim.zero_grad()
        total.backward()
        if step == 0:
            missing = [n for n, p in model.head.dcc.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
            assert not missing, missing
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        optim.step()
        totals.append(total.item())
    assert all(np.isfinite(totals)) and min(totals[-3:]) < totals[0], totals


def test_empty_image_and_keypoint_mismatch():
    """An image without instances contributes only negatives (MMPose's behaviour); a dataset with a
    different K is a clear error."""
    _, samples = bottomup_batch(17)
    _, ours = _pair(17)
    samples = [s.clone() for s in samples[:2]]
    samples[0].gt_instance_labels = samples[0].gt_instance_labels[torch.zeros(0, dtype=torch.long)]
    samples[0].gt_instances = samples[0].gt_instances[np.zeros(0, dtype=np.int64)]
    losses = ours.loss(_feats(2), samples)
    assert all(torch.isfinite(v).all() for k, v in losses.items() if k.startswith('loss'))
    _, other = _pair(14)
    with pytest.raises(ValueError, match='14 keypoints'):
        other.loss(_feats(2), samples)


def test_clear_construction_errors():
    with pytest.raises(ValueError, match='num_dets'):
        MODELS.build(head_cfg(17, num_dets=0))
