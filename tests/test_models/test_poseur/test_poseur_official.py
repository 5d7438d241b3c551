"""PoseurHead against the official code's formulas: the per-keypoint loss
normalisation of every stage, the effective initialisation, the scores without
and with flip test, and the float32 decoder under autocast.

The official formulas are written here from their description, not taken from
our modules.
"""
import copy
import math

import numpy as np
import pytest
import torch
from mmpose.registry import MODELS


def _official_rle(pred, sigma, gt, weight, log_phi):
    """Official ``RLELoss_poseur``, float64 numpy.

    ``Σ((log σ − log G(ē))·w + (log(σ√(2π)) + |gt − pred|/(√2σ + 1e-9))·w)``
    divided by B·K', K' the prediction's keypoint slots (K coarse, G·K per
    decoder layer).
    """
    B, K = pred.shape[:2]
    nf = np.log(sigma) - log_phi[..., None]
    log_q = np.log(sigma * math.sqrt(2 * math.pi)) + np.abs(gt - pred) / (
        math.sqrt(2) * sigma + 1e-9)
    return (nf * weight + log_q * weight).sum() / (B * K)


@pytest.mark.parametrize('K', [17, 14])
def test_every_stage_is_normalised_per_keypoint_slot_as_the_official_code(
        poseur_cfg, samples, K):
    model = MODELS.build(poseur_cfg(num_keypoints=K, dropout=0.0)).train()
    head = model.head
    B, G = 3, 4  # 1 clean + 3 noisy groups
    data = samples(B, K)
    # invisible keypoints still count in B·K'
    data[0].gt_instance_labels.keypoint_weights[0, :4] = 0
    feats = model.extract_feat(torch.randn(B, 3, 64, 48))
    torch.manual_seed(3)
    losses = head.loss(feats, data)
    torch.manual_seed(3)  # the same noisy groups
    with torch.no_grad():
        coarse, coarse_sigma, coords, sigma = head(feats)
    # (B, K, 2)
    gt = torch.cat([d.gt_instance_labels.keypoint_labels
                    for d in data]).double().numpy()
    w = torch.cat([d.gt_instance_labels.keypoint_weights
                   for d in data]).double().numpy()[..., None]

    def official(flow, pred, sig, target, weight):
        # the formula in float64
        pred, sig = pred.detach().double(), sig.detach().double()
        flow = copy.deepcopy(flow).double()
        with torch.no_grad():
            log_phi = flow.log_prob(
                ((pred - torch.from_numpy(target)) / sig).reshape(-1, 2))
        return _official_rle(pred.numpy(), sig.numpy(), target, weight,
                             log_phi.reshape(pred.shape[:2]).numpy())

    expected = official(head.coarse_loss.flow_model, coarse, coarse_sigma, gt,
                        w)
    # float32 vs float64
    assert losses['loss_coarse'].item() == pytest.approx(expected, rel=1e-5)
    assert coords.shape[2] == G * K
    # every group regresses the same target
    gt_g, w_g = np.tile(gt, (1, G, 1)), np.tile(w, (1, G, 1))
    for lid in range(coords.shape[1]):
        expected = official(head.decoder_loss.flow_model, coords[:, lid],
                            sigma[:, lid], gt_g, w_g)
        assert losses[f'loss_dec{lid}'].item() == pytest.approx(
            expected, rel=1e-5)


def _xavier_std(p, gain=1.0):
    fan_out, fan_in = p.shape[0], p[0].numel()
    return gain * math.sqrt(2.0 / (fan_in + fan_out))


def _close_to(std, expected, rel):
    return abs(std - expected) <= rel * expected


def test_official_init_is_xavier_on_every_transformer_matrix(poseur_cfg):
    """The official PoseurTransformer Xavier-initialises every ≥ 2-D parameter,
    and its own deformable attention never gets DETR's re-initialisation:

    offsets and attention weights are Xavier, not zero.
    """
    head = MODELS.build(
        dict(
            type='PoseurHead',
            num_keypoints=17,
            embed_dims=64,
            in_channels=64,
            num_heads=8,
            feedforward_channels=256,
            num_points=4,
            num_decoder_layers=1))
    # EMSDA's own init_weights runs first; the head's scheme comes on top
    head.init_weights()
    layer = head.query_decoder.layers[0]
    attn = layer.cross_attn
    matrices = dict(
        sampling_offsets=attn.sampling_offsets.weight,
        attention_weights=attn.attention_weights.weight,
        value_proj=attn.value_proj.weight,
        output_proj=attn.output_proj.weight,
        ffn_in=layer.ffn.layers[0][0].weight,
        ffn_out=layer.ffn.layers[1].weight,
        self_attn_in=layer.self_attn.attn.in_proj_weight,
        self_attn_out=layer.self_attn.attn.out_proj.weight,
        query_pos=head.query_pos.weight,
        keypoint_encoder=head.keypoint_encoder.proj.weight)
    for name, p in matrices.items():
        std = p.detach().std().item()
        # ≥ 1k samples each
        assert _close_to(std, _xavier_std(p), 0.1), (name, std, _xavier_std(p))
        bound = math.sqrt(3) * _xavier_std(p)
        assert p.abs().max() <= bound + 1e-6, name
    # the official (H, C/H) bias, Xavier as a matrix
    bias = attn.value_proj.bias.view(8, -1)
    assert bias.abs().max() <= math.sqrt(6 /
                                         (8 + 8)) and bias.abs().max() > 0.3
    # gain 1, not 0.01
    for fc in (head.coarse_stage.fc_coord, head.coarse_stage.fc_sigma):
        assert _close_to(fc.weight.std().item(), _xavier_std(fc.weight), 0.1)
        # PyTorch's default bias
        assert fc.bias.abs().max() <= 64**-0.5 and fc.bias.abs().max() > 0


def test_detr_init_keeps_zero_offsets_and_small_outputs(poseur_cfg):
    model = MODELS.build(poseur_cfg(num_keypoints=17, init_scheme='detr'))
    model.init_weights()
    head = model.head
    attn = head.query_decoder.layers[0].cross_attn
    assert torch.equal(attn.sampling_offsets.weight,
                       torch.zeros_like(attn.sampling_offsets.weight))
    assert torch.equal(attn.attention_weights.weight,
                       torch.zeros_like(attn.attention_weights.weight))
    assert torch.equal(attn.value_proj.bias,
                       torch.zeros_like(attn.value_proj.bias))
    fc = head.coarse_stage.fc_coord
    assert _close_to(fc.weight.std().item(), _xavier_std(fc.weight, gain=0.01),
                     0.1)
    assert torch.equal(fc.bias, torch.full_like(fc.bias, 0.5))
    with pytest.raises(ValueError, match='init_scheme'):
        MODELS.build(poseur_cfg(num_keypoints=17, init_scheme='xavier'))


def test_scores_without_flip_are_one_minus_mean_sigma(poseur_cfg, samples):
    model = MODELS.build(poseur_cfg(num_keypoints=5)).eval()
    x = torch.randn(2, 3, 64, 48)
    with torch.no_grad():
        feats = model.extract_feat(x)
        # (B, K, 2), clean group of the last layer
        sigma = model.head(feats)[3][:, -1]
        official = model.head.predict(feats, samples(2, 5), {})
        model.head.score = 'laplace'
        laplace = model.head.predict(feats, samples(2, 5), {})
    for i in range(2):
        np.testing.assert_allclose(
            official[i].keypoint_scores[0],
            1 - sigma[i].mean(-1).numpy(),
            rtol=1e-6)
        p = 0.7 * (1 - np.exp(-0.2 / sigma[i].numpy())).prod(-1)
        np.testing.assert_allclose(laplace[i].keypoint_scores[0], p, rtol=1e-5)
        np.testing.assert_array_equal(official[i].keypoints,
                                      laplace[i].keypoints)


def test_default_flip_fusion_averages_coordinates_and_rle_scores(poseur_cfg):
    head = MODELS.build(poseur_cfg(num_keypoints=2,
                                   flip_fusion='default')).head
    coords = torch.tensor([[[0.2, 0.3], [0.6, 0.6]]])
    coords_flip = torch.tensor([[[0.4, 0.5], [0.6, 0.7]]])
    sigma = torch.tensor([[[0.1, 0.3], [0.05, 0.05]]])
    sigma_flip = torch.tensor([[[0.2, 0.2], [0.05, 0.15]]])
    fused, scores = head.fuse_flip(coords, sigma, coords_flip, sigma_flip)
    assert torch.allclose(fused, torch.tensor([[[0.3, 0.4], [0.6, 0.65]]]))
    assert torch.allclose(scores,
                          torch.tensor([[(0.8 + 0.8) / 2, (0.95 + 0.9) / 2]]))
    with pytest.raises(ValueError, match='flip_fusion'):
        MODELS.build(poseur_cfg(num_keypoints=2, flip_fusion='type3'))


@pytest.mark.parametrize('fp32_decoder', [True, False])
def test_decoder_runs_in_float32_under_autocast_when_asked(
        poseur_cfg, fp32_decoder):
    """The official code runs the whole decoder in fp32 under AMP (force_fp32):

    every Linear of the decoder and the keypoint encoder then computes in
    float32 inside bf16 autocast; with False, in bf16.
    """
    model = MODELS.build(
        poseur_cfg(num_keypoints=4, fp32_decoder=fp32_decoder)).eval()
    head = model.head
    seen = {}

    def record(name):

        def hook(module, inputs, output):
            # returns None: the output is left alone
            seen.setdefault(name, output.dtype)

        return hook

    hooks = [
        m.register_forward_hook(record(name)) for name, m in (
            ('encoder', head.keypoint_encoder.proj),
            ('ffn', head.query_decoder.layers[0].ffn.layers[1]),
            ('offsets',
             head.query_decoder.layers[-1].cross_attn.sampling_offsets))
    ]
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        outputs = model(torch.randn(1, 3, 64, 48), None, mode='tensor')
    for h in hooks:
        h.remove()
    expected = torch.float32 if fp32_decoder else torch.bfloat16
    assert seen == dict(encoder=expected, ffn=expected, offsets=expected)
    assert all(o.dtype == torch.float32 and torch.isfinite(o).all()
               for o in outputs)
