"""TokenPoseHead: its tokens and position embedding checked against independent
computations, its heatmap path against MMPose's codec and loss on the bundled
COCO (K=17) and CrowdPose (K=14) instances, its flip test by hand, and its
error messages."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmpose.registry import KEYPOINT_CODECS, MODELS
from tokenpose_helpers import CODEC, HEATMAP_SIZE


def _head(K=5, C=8, **kwargs):
    cfg = dict(
        type='TokenPoseHead',
        in_channels=C,
        out_channels=K,
        patch_size=(2, 2),
        embed_dims=16,
        depth=2,
        num_heads=4,
        mlp_ratio=2,
        hidden_dims=32,
        decoder=CODEC)
    cfg.update(kwargs)
    head = MODELS.build(cfg)
    head.init_weights()
    return head.eval()


def test_sine_position_embedding_by_formula():
    """Channel c < D/2 of visual token (i, j) is sin/cos((i+1)/h · 2π /
    T^(2⌊c/2⌋/(D/2))) (y), channels.

    ≥ D/2 the same in x (DETR's normalised embedding, TokenPose's official
    formula); keypoint tokens 0.
    """
    K, D, h, w, T = 3, 16, 4, 3, 10000.
    head = _head(K=K, embed_dims=D)
    # (K+h*w, D)
    pos = head.position_embedding(h, w, torch.zeros(1)).squeeze(0).double()
    assert pos.shape == (K + h * w, D)
    assert torch.all(pos[:K] == 0)
    half = D // 2
    expected = np.zeros((h * w, D))
    for i in range(h):
        for j in range(w):
            y, x = (i + 1) / (h + 1e-6) * 2 * math.pi, (j + 1) / (
                w + 1e-6) * 2 * math.pi
            for c in range(half):
                t = T**(2 * (c // 2) / half)
                fn = math.sin if c % 2 == 0 else math.cos
                expected[i * w + j, c] = fn(y / t)
                expected[i * w + j, half + c] = fn(x / t)
    assert np.allclose(pos[K:].numpy(), expected, atol=1e-5)
    # hand-checkable corner: last row, channel 0 is sin(2π·h/h) ≈ 0, channel 1
    # cos(2π) ≈ 1
    assert abs(pos[K + (h - 1) * w,
                   0]) < 1e-4 and abs(pos[K + (h - 1) * w, 1] - 1) < 1e-4


def test_patchify_matches_unfold():
    """Patches are flattened (row in patch, column in patch, channel) like the
    official einops pattern; F.unfold gives (channel, row, column) per
    patch."""
    head = _head(C=5, patch_size=(4, 3))
    x = torch.randn(2, 5, 16, 12)
    cols = F.unfold(x, kernel_size=(4, 3), stride=(4, 3))  # (B, C*4*3, L)
    expected = cols.reshape(2, 5, 4, 3,
                            -1).permute(0, 4, 2, 3,
                                        1).reshape(2, -1, 4 * 3 * 5)
    assert torch.equal(head.patchify(x), expected)
    assert head.patchify(x).shape == (2, 16, 60)


def test_keypoint_tokens_are_permutation_equivariant():
    """Keypoint tokens carry no position and share the MLP head: permuting them
    permutes the heatmaps."""
    head = _head(K=6)
    feats = (torch.randn(2, 8, 16, 12), )
    with torch.no_grad():
        out = head(feats)
        perm = torch.tensor([3, 0, 5, 1, 4, 2])
        head.keypoint_tokens.copy_(head.keypoint_tokens[:, perm])
        out_perm = head(feats)
    assert out.shape == (2, 6, HEATMAP_SIZE[1], HEATMAP_SIZE[0])
    assert torch.allclose(out_perm, out[:, perm], atol=1e-5)
    assert not torch.allclose(out_perm, out, atol=1e-3)


def test_attention_maps_from_forward_with_attention():
    head = _head(K=4)
    feats = (torch.randn(1, 8, 16, 12), )
    with torch.no_grad():
        heatmaps, weights, grid = head.forward_with_attention(feats)
        assert torch.equal(heatmaps, head(feats))
    assert grid == (8, 6) and len(weights) == 2
    assert weights[0].shape == (1, 4, 4 + 48, 4 + 48)


def test_mlp_head_follows_official_width_rule():
    # D <= hidden/2: LN, Linear, LN, Linear
    assert len(_head(embed_dims=16, hidden_dims=32).mlp_head) == 4
    # otherwise LN, Linear
    assert len(_head(embed_dims=16, hidden_dims=24).mlp_head) == 2
    # 16*12 // 8 = 24 < 2*16
    assert _head(hidden_dims=None).mlp_head[-1].in_features == 16


def test_loss_matches_mmpose_codec_and_mse_by_hand(fixture_batch):
    """Targets from MMPose's MSRAHeatmap (GenerateTarget); loss = mean(w_k ·
    (pred − target)²), the unreduced MSE of KeypointMSELoss, computed by hand;
    the PCK accuracy is reported."""
    K = fixture_batch['num_keypoints']
    samples = fixture_batch['batch']['data_samples']
    head = _head(K=K).train()
    feats = (torch.randn(len(samples), 8, 16, 12), )
    losses = head.loss(feats, samples)
    pred = head(feats)
    target = torch.stack([s.gt_fields.heatmaps for s in samples])
    weights = torch.cat(
        [s.gt_instance_labels.keypoint_weights for s in samples])
    assert target.shape == (len(samples), K, HEATMAP_SIZE[1], HEATMAP_SIZE[0])
    expected = ((pred - target)**2 * weights[:, :, None, None]).mean()
    assert torch.allclose(losses['loss_kpt'], expected, rtol=1e-6)
    assert 0 <= float(losses['acc_pose']) <= 1
    # the fixtures include invisible keypoints
    assert (weights == 0).any() and (weights > 0).any()


def test_predict_flip_test_by_hand(fixture_batch):
    """predict(flip_test) = decode((f(x) + mirror(f(x_flipped))[flip_indices])
    / 2) with MMPose's codec."""
    K = fixture_batch['num_keypoints']
    samples = fixture_batch['batch']['data_samples']
    flip_indices = samples[0].metainfo['flip_indices']
    assert len(flip_indices) == K
    head = _head(K=K)
    feats = (torch.randn(len(samples), 8, 16, 12), )
    feats_flip = (torch.randn(len(samples), 8, 16, 12), )
    with torch.no_grad():
        preds = head.predict([feats, feats_flip], samples,
                             dict(
                                 flip_test=True,
                                 flip_mode='heatmap',
                                 shift_heatmap=False))
        fused = (head(feats) + head(feats_flip)[:, flip_indices].flip(-1)) / 2
    codec = KEYPOINT_CODECS.build(CODEC)
    for pred, hm in zip(preds, fused):
        keypoints, scores = codec.decode(hm.numpy())
        assert pred.keypoints.shape == (1, K, 2)
        assert np.allclose(pred.keypoints, keypoints, atol=1e-5)
        assert np.allclose(pred.keypoint_scores, scores, atol=1e-6)


def test_heatmap_size_defaults_to_codec():
    head = _head(heatmap_size=None)
    assert head.heatmap_size == HEATMAP_SIZE
    with pytest.raises(ValueError, match='heatmap_size'):
        _head(heatmap_size=None, decoder=None)


def test_clear_errors(fixture_batch):
    K = fixture_batch['num_keypoints']
    samples = fixture_batch['batch']['data_samples']
    wrong_k = _head(K=K + 1).train()
    with pytest.raises(ValueError, match='out_channels'):
        wrong_k.loss((torch.randn(len(samples), 8, 16, 12), ), samples)
    with pytest.raises(ValueError, match='flip_indices'):
        wrong_k.predict([(torch.randn(1, 8, 16, 12), )] * 2, samples[:1],
                        dict(flip_test=True))
    with pytest.raises(ValueError, match='empty batch'):
        _head(K=K).loss((torch.randn(0, 8, 16, 12), ), [])
    head = _head(K=K)
    with pytest.raises(ValueError, match='not divisible'):
        head((torch.randn(1, 8, 15, 12), ))
    with pytest.raises(ValueError, match='feature channels'):
        head((torch.randn(1, 6, 16, 12), ))
    with pytest.raises(ValueError, match='even'):
        _head(embed_dims=15, num_heads=3)


def test_small_output_init_starts_at_the_loss_of_zeros(fixture_batch):
    """output_init='small' starts the heatmaps near zero: the step-0 loss is
    within 5 % of predicting all zeros.

    The official start (every Linear
    truncated-normal 0.02) is several times that loss at the synthetic
    configs' widths (here D = 192, 48 visual tokens of 432 channels).
    """
    K = fixture_batch['num_keypoints']
    samples = fixture_batch['batch']['data_samples']
    feats = (torch.randn(len(samples), 432, 16, 12), )
    target = torch.stack([s.gt_fields.heatmaps for s in samples])
    weights = torch.cat(
        [s.gt_instance_labels.keypoint_weights for s in samples])
    zeros = (target**2 * weights[:, :, None, None]).mean()
    losses = {}
    for init in ('official', 'small'):
        torch.manual_seed(0)
        head = _head(
            K=K,
            C=432,
            patch_size=(2, 2),
            embed_dims=192,
            num_heads=8,
            output_init=init).train()
        losses[init] = float(head.loss(feats, samples)['loss_kpt'])
    assert losses['small'] == pytest.approx(float(zeros), rel=0.05)
    assert losses['official'] > 2 * zeros, (losses, zeros)
    last = head.mlp_head[-1]
    assert last.weight.std() < 0.002 and not last.bias.any()
    with pytest.raises(ValueError, match='output_init'):
        _head(output_init='zeros')
