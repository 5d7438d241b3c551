"""PoseurHead under fp16/bf16 autocast (float32 islands, closeness to float32),
at batch size 1, and on non-finite input: which error names what.

CPU autocast runs fp16 as well as bf16; fp16 here stands in for CUDA's fp16
autocast (CPU keeps more ops in half precision than CUDA does, e.g. LayerNorm
and softmax, so it is the harder case).
"""

import numpy as np
import pytest
import torch
from mmpose.registry import MODELS
from torch import nn

from mmpose_ext.models.common import NonFiniteError

HALF = [torch.bfloat16, torch.float16]
K = 17


def _feats(B=2, seed=0):
    """Random neck levels (B, 32, h, w) at strides 4-32 of a 64x48 input."""
    g = torch.Generator().manual_seed(seed)
    return tuple(
        torch.randn(B, 32, 64 // s, 48 // s, generator=g)
        for s in (4, 8, 16, 32))


def _head(poseur_cfg, **kwargs):
    """A small PoseurHead whose outputs depend on the features: the last layers
    of the coarse stage and of the branches start at gain 0.01 (nearly constant
    outputs), here at gain 1, as after some training."""
    torch.manual_seed(0)
    head = MODELS.build(poseur_cfg(num_keypoints=K, dropout=0.0,
                                   **kwargs)).head
    dec = head.query_decoder
    last = [
        head.coarse_stage.fc_coord, head.coarse_stage.fc_sigma,
        *(branch[-1]
          for branch in (*dec.coord_branches, *dec.coord_out_branches,
                         *dec.sigma_branches))
    ]
    with torch.no_grad():
        for layer in last:
            nn.init.xavier_uniform_(layer.weight)
    return head


def _loss(head, feats, data, dtype=None):
    torch.manual_seed(7)  # the same noisy groups in every call
    with torch.autocast(
            'cpu', dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        return head.loss(feats, data)


@pytest.mark.parametrize('dtype', HALF)
def test_autocast_is_close_to_float32(poseur_cfg, samples, dtype):
    """Losses, outputs, keypoints and scores under autocast against float32,
    same weights and noise.

    Tolerances in eps = torch.finfo(dtype).eps (2^-7 bf16, 2^-10 fp16): every
    Linear of the transformer and of the branches rounds its output to eps/2
    relative, and an output chains a few of them on O(1) activations before the
    float32 islands (EMSDA sampling, coordinate/σ updates, losses, scores). We
    allow 2·eps on coordinates and σ in [0, 1] (bf16: 0.016, 1 px at 64 px),
    eps relative on each loss term, eps/4 on the Laplace scores (a product of
    two masses with slopes < 1). Measured over 6 seeds, bf16 (fp16):
    coordinates 0.89·eps (0.87), σ 0.33·eps (0.37), losses 0.58·eps (0.19),
    scores 0.05·eps (0.05).
    """
    eps = torch.finfo(dtype).eps
    head = _head(poseur_cfg).train()
    feats, data = _feats(), samples(2, K)
    expected, got = _loss(head, feats, data), _loss(head, feats, data, dtype)
    for name in expected:
        assert torch.isfinite(got[name])
        if name.startswith('loss'):
            assert abs(got[name].item() - expected[name].item()) <= eps * abs(
                expected[name].item()), name
    sum(v for k, v in got.items() if k.startswith('loss')).backward()
    assert all(
        torch.isfinite(p.grad).all() for p in head.parameters()
        if p.grad is not None)

    head.eval()
    with torch.no_grad():
        outputs32, preds32 = head(feats), head.predict(feats, data, {})
        with torch.autocast('cpu', dtype=dtype):
            outputs, preds = head(feats), head.predict(feats, data, {})
    for a, b in zip(outputs, outputs32):
        # coordinates and σ in [0, 1]
        assert a.dtype == torch.float32 and (a - b).abs().max() <= 2 * eps
    keypoints, keypoints32 = (
        np.stack([p.keypoints for p in ps]) for ps in (preds, preds32))
    scores, scores32 = (
        np.stack([p.keypoint_scores for p in ps]) for ps in (preds, preds32))
    # pixels of the 48x64 input
    assert np.abs(keypoints - keypoints32).max() <= 2 * eps * 64
    assert np.abs(scores - scores32).max() <= eps / 4


@pytest.mark.parametrize('dtype', HALF)
def test_losses_are_computed_in_float32_inside_autocast(
        poseur_cfg, samples, dtype):
    """The loss terms PoseurHead returns under autocast are exactly the float32
    RLE losses of its (float32) outputs: the flows run with autocast off."""
    head = _head(poseur_cfg).train()
    feats, data = _feats(), samples(2, K)
    losses = _loss(head, feats, data, dtype)
    torch.manual_seed(7)
    with torch.autocast('cpu', dtype=dtype):
        coarse, coarse_sigma, coords, sigma = head(feats)
    labels = torch.cat([d.gt_instance_labels.keypoint_labels for d in data])
    weights = torch.cat([d.gt_instance_labels.keypoint_weights
                         for d in data])[..., None]
    groups = coords.shape[2] // K
    assert coords.dtype == sigma.dtype == coarse.dtype == torch.float32
    assert torch.equal(losses['loss_coarse'],
                       head.coarse_loss(coarse, coarse_sigma, labels, weights))
    for lid in range(coords.shape[1]):
        expected = head.decoder_loss(coords[:, lid], sigma[:, lid],
                                     labels.repeat(1, groups, 1),
                                     weights.repeat(1, groups, 1))
        assert torch.equal(losses[f'loss_dec{lid}'], expected)


@pytest.mark.parametrize('amp', [False, True], ids=['fp32', 'bf16'])
def test_batch_size_one(poseur_cfg, samples, amp):
    """The whole model (ResNet with BatchNorm, GN neck, head) trains a step and
    predicts at batch size 1; in eval mode one instance's prediction does not
    depend on the rest of the batch."""
    torch.manual_seed(0)
    model = MODELS.build(poseur_cfg(num_keypoints=K))
    x = torch.randn(2, 3, 64, 48)
    model.train()
    with torch.autocast('cpu', dtype=torch.bfloat16, enabled=amp):
        losses = model(x[:1], samples(1, K), mode='loss')
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    assert all(torch.isfinite(v) for v in losses.values())
    assert all(
        torch.isfinite(p.grad).all() for p in model.parameters()
        if p.grad is not None)

    model.eval()
    with torch.no_grad(), torch.autocast(
            'cpu', dtype=torch.bfloat16, enabled=amp):
        one, two = ([
            model.extract_feat(x[:n]),
            model.extract_feat(x[:n].flip(-1))
        ] for n in (1, 2))
        pred_one = model.head.predict(one, samples(1, K), dict(flip_test=True))
        pred_two = model.head.predict(two, samples(2, K), dict(flip_test=True))
    assert len(pred_one) == 1 and pred_one[0].keypoints.shape == (1, K, 2)
    # pixels
    assert np.abs(pred_one[0].keypoints - pred_two[0].keypoints).max() <= 1e-4


def test_nan_input_image_names_the_head_and_the_features(poseur_cfg, samples):
    torch.manual_seed(0)
    model = MODELS.build(poseur_cfg(num_keypoints=K)).train()
    x = torch.randn(2, 3, 64, 48)
    x[1] = float('nan')
    with pytest.raises(
            NonFiniteError,
            match=r'^PoseurHead: non-finite output: coarse_coords \(68 NaN.*'
            r'Cause: the features reaching the head are already non-finite '
            r'\(maps \[0, 1, 2, 3\]'):
        model(x, samples(2, K), mode='loss')
    model.eval()
    with pytest.raises(
            NonFiniteError,
            match=r'^PoseurHead: non-finite prediction: keypoints \(34 NaN'):
        with torch.no_grad():
            model.head.predict(model.extract_feat(x[1:]), samples(1, K), {})


def test_nan_weight_in_the_head_says_the_features_are_finite(
        poseur_cfg, samples):
    head = _head(poseur_cfg).train()
    with torch.no_grad():
        head.query_decoder.layers[1].ffn.layers[1].weight[0, 0] = float('nan')
    with pytest.raises(
            NonFiniteError,
            match=r'^PoseurHead: non-finite output: decoder_coords .*'
            r'the features reaching the head are finite, so the head itself'):
        head.loss(_feats(), samples(2, K))


def test_nan_target_is_named_by_the_loss(poseur_cfg, samples):
    data = samples(2, K)
    data[1].gt_instance_labels.keypoint_labels[0, 3, 0] = float('nan')
    with pytest.raises(
            NonFiniteError,
            match=r'^RLEFlowLoss: non-finite input: target \(1 NaN'):
        _head(poseur_cfg).train().loss(_feats(), data)


def test_non_finite_loss_term_stops_the_step(poseur_cfg, samples):
    """Finite outputs and targets but an infinite loss term (here from its
    weight): named at the end of loss(), before the optimizer could use it."""
    loss = dict(
        type='RLEFlowLoss',
        use_target_weight=True,
        sigma_activation=None,
        prior_mean=0.5,
        q_distribution='poseur',
        loss_weight=float('inf'))
    head = _head(poseur_cfg, loss_decoder=loss).train()
    with pytest.raises(
            NonFiniteError,
            match=
            r'^PoseurHead: non-finite loss: loss_dec0 \(0 NaN, 1 Inf of 1\), '
            r'loss_dec1 .*before the optimizer update'):
        head.loss(_feats(), samples(2, K))
