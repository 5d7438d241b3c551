"""TokenPoseHead under fp16/bf16 autocast (float32 heatmaps out of the head,
closeness to float32), at batch size 1, and on non-finite input: which error
names what.

CPU fp16 autocast stands in for CUDA's.
"""
import numpy as np
import pytest
import torch
from mmpose.registry import MODELS
from tokenpose_helpers import CODEC, build_small_model, load_batch

from mmpose_ext.models.common import NonFiniteError

HALF = [torch.bfloat16, torch.float16]


@pytest.fixture(scope='module')
def coco(fixtures_root):
    """The bundled COCO instances (K = 17): 64x48 crops with MSRAHeatmap
    targets (16x12)."""
    return load_batch(17, fixtures_root)


def _head(K=17, C=8):
    torch.manual_seed(0)
    head = MODELS.build(
        dict(
            type='TokenPoseHead',
            in_channels=C,
            out_channels=K,
            patch_size=(2, 2),
            embed_dims=16,
            depth=2,
            num_heads=4,
            mlp_ratio=2,
            hidden_dims=32,
            decoder=CODEC))
    head.init_weights()
    return head


@pytest.mark.parametrize('dtype', HALF)
def test_autocast_is_close_to_float32(coco, dtype):
    """Heatmaps leave the head in float32 under autocast, so MMPose's MSE,
    accuracy and decoding (numpy has no bfloat16) work.

    Tolerances in eps = torch.finfo(dtype).eps: the heatmaps come out of a
    chain of half-precision layers (patch embedding, 2 x (LayerNorm, q/k/v,
    projection, FFN), the MLP head), each rounding to eps/2 relative, so we
    allow 2·eps of the largest heatmap value and eps relative on the loss.
    Measured over 6 seeds, bf16 (fp16): heatmaps 0.75·eps (0.85), loss 0.02·eps
    (0.02), scores 0.3·eps. The decoded locations are not compared: on an
    untrained head's near-flat heatmaps a rounding error may move the argmax
    anywhere.
    """
    samples = coco['batch']['data_samples']
    eps = torch.finfo(dtype).eps
    head = _head().train()
    feats = (torch.randn(len(samples), 8, 16, 12), )
    expected = head.loss(feats, samples)
    with torch.autocast('cpu', dtype=dtype):
        got = head.loss(feats, samples)
    assert got['loss_kpt'].dtype == torch.float32
    assert abs(
        got['loss_kpt'].item() -
        expected['loss_kpt'].item()) <= eps * expected['loss_kpt'].item()
    got['loss_kpt'].backward()
    assert all(
        torch.isfinite(p.grad).all() for p in head.parameters()
        if p.grad is not None)

    head.eval()
    with torch.no_grad():
        heatmaps32, preds32 = head(feats), head.predict(feats, samples, {})
        with torch.autocast('cpu', dtype=dtype):
            heatmaps, preds = head(feats), head.predict(feats, samples, {})
    assert heatmaps.dtype == torch.float32
    assert (heatmaps -
            heatmaps32).abs().max() <= 2 * eps * heatmaps32.abs().max()
    scores, scores32 = (
        np.stack([p.keypoint_scores for p in ps]) for ps in (preds, preds32))
    assert np.isfinite(np.stack([p.keypoints for p in preds])).all()
    assert np.abs(scores -
                  scores32).max() <= 2 * eps * heatmaps32.abs().max().item()


@pytest.mark.parametrize('amp', [False, True], ids=['fp32', 'bf16'])
def test_batch_size_one(coco, amp):
    """The whole model (TokenPoseStem with BatchNorm, head) trains a step and
    predicts with flip test at batch size 1; in eval mode one instance's
    heatmaps do not depend on the rest of the batch."""
    torch.manual_seed(0)
    model = build_small_model(17, coco['metainfo'])
    batch = model.data_preprocessor(coco['batch'], training=True)
    inputs, samples = batch['inputs'], batch['data_samples']
    model.train()
    with torch.autocast('cpu', dtype=torch.bfloat16, enabled=amp):
        losses = model(inputs[:1], samples[:1], mode='loss')
    losses['loss_kpt'].backward()
    assert all(torch.isfinite(v) for v in losses.values())
    assert all(
        torch.isfinite(p.grad).all() for p in model.parameters()
        if p.grad is not None)

    model.eval()
    with torch.no_grad(), torch.autocast(
            'cpu', dtype=torch.bfloat16, enabled=amp):
        one = model.head.predict([
            model.extract_feat(inputs[:1]),
            model.extract_feat(inputs[:1].flip(-1))
        ], samples[:1], dict(flip_test=True, shift_heatmap=True))
        heatmaps_one, heatmaps_two = model(
            inputs[:1], None, mode='tensor'), model(
                inputs[:2], None, mode='tensor')
    assert len(one) == 1 and one[0].keypoints.shape == (
        1, 17, 2) and np.isfinite(one[0].keypoints).all()
    assert (heatmaps_one[0] - heatmaps_two[0]).abs().max() <= 1e-5


def test_nan_input_image_names_the_head_and_the_features(coco):
    torch.manual_seed(0)
    model = build_small_model(17, coco['metainfo'])
    batch = model.data_preprocessor(coco['batch'], training=True)
    inputs, samples = batch['inputs'][:2].clone(), batch['data_samples'][:2]
    inputs[1] = float('nan')
    with pytest.raises(
            NonFiniteError,
            match=
            r'^TokenPoseHead: non-finite loss: loss_kpt \(1 NaN, 0 Inf of 1\)'
            r'.*before the optimizer update\. Cause: the features reaching '
            r'the head are already '
            r'non-finite \(maps \[0\] of 1\)'):
        model.train()(inputs, samples, mode='loss')
    model.eval()
    with pytest.raises(
            NonFiniteError,
            match=r'^TokenPoseHead: non-finite prediction: '
            r'.*keypoint_scores \('):
        with torch.no_grad():
            model.head.predict(model.extract_feat(inputs[1:]), samples[1:], {})


def test_nan_weight_in_the_head_says_the_features_are_finite(coco):
    samples = coco['batch']['data_samples']
    head = _head().train()
    with torch.no_grad():
        head.transformer.layers[1].attn.proj.weight[0, 0] = float('nan')
    with pytest.raises(
            NonFiniteError,
            match=r'^TokenPoseHead: non-finite loss: loss_kpt .*'
            r'the features reaching the head are finite, so the head itself'):
        head.loss((torch.randn(len(samples), 8, 16, 12), ), samples)
