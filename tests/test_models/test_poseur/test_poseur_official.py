"""PoseurHead against the official code's formulas: the per-keypoint loss
normalisation of every stage, the initialisation the official code starts from
(``init_scheme='official'``), the scores without and with flip test, and the
float32 decoder under autocast.

The official formulas and numbers are written here from their description, not
taken from our modules.
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

    offsets and attention weights are Xavier, not zero; the biases keep its
    constructor's DETR values (offset ring, zero attention and output bias).
    The value projection has the official shapes' Xavier (next test).
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
    # as MMEngine's runner does (it reaches neither EMSDA nor the flows)
    head.init_weights()
    layer = head.query_decoder.layers[0]
    attn = layer.cross_attn
    matrices = dict(
        sampling_offsets=attn.sampling_offsets.weight,
        attention_weights=attn.attention_weights.weight,
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
    # the DETR biases of the official module's constructor
    assert torch.equal(attn.attention_weights.bias,
                       torch.zeros_like(attn.attention_weights.bias))
    assert torch.equal(attn.output_proj.bias,
                       torch.zeros_like(attn.output_proj.bias))
    # head 0 points along +x: offsets (1, 0), (2, 0), ... per level
    ring = attn.sampling_offsets.bias.view(8, 4, 4, 2)
    assert torch.equal(ring[0, 0, :, 0], torch.arange(1., 5.))
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


def _full_size_head(init_scheme='official', **kwargs):
    """The official width (C = 256, 8 heads, FFN 1024), 3 decoder layers,
    initialised as MMEngine's runner does."""
    cfg = dict(
        type='PoseurHead',
        num_keypoints=17,
        num_decoder_layers=3,
        init_scheme=init_scheme)
    cfg.update(kwargs)
    head = MODELS.build(cfg)
    head.init_weights()
    return head


def _uniform(p, bound, rel=0.1):
    """``p`` looks like U(±bound): inside it, reaching near it, std
    bound/√3."""
    p = p.detach().double()
    return (p.abs().max().item() <= bound + 1e-7
            and _close_to(p.std().item(), bound / math.sqrt(3), rel))


def test_official_value_projection_has_the_official_embedding_init():
    """The official EMSDA stores its value projection as ``Embedding(8C,
    C/8)``, which its transformer's Xavier pass draws as an (8C, C/8) matrix:

    U(±√(6 / (8C + C/8))), bound 0.0537 and std 0.0310 at C = 256, half the
    0.0625 of a Xavier draw on our (C, C) weight (kept by the 'detr' scheme).
    """
    official, detr = _full_size_head(), _full_size_head('detr')
    for layer in official.query_decoder.layers:
        w = layer.cross_attn.value_proj.weight
        assert w.shape == (256, 256)
        # 65536 draws: the std to < 1 %, the maximum to 1e-4 of the bound
        assert w.std().item() == pytest.approx(0.0310, rel=0.01)
        assert 0.0536 < w.abs().max().item() <= 0.05371
    for layer in detr.query_decoder.layers:
        w = layer.cross_attn.value_proj.weight
        assert w.std().item() == pytest.approx(0.0625, rel=0.01)


def test_official_branches_start_at_pytorch_defaults_as_copies():
    """The official head deep-copies one coordinate branch into every layer's
    coordinate AND coordinate-out branch, and one σ branch into every σ branch;
    its gain-0.01 loops never match (they see ``nn.Sequential`` objects).

    So every Linear keeps PyTorch's default, U(±1/√fan_in) for weight and
    bias (1/16 at C = 256), except the σ branch's last weight (the official
    ``Linear_with_norm``, Xavier gain 0.01 in its constructor: bound
    0.01·√(6/258) = 0.00153, std 0.000880), and all copies are equal.
    """
    head = _full_size_head()
    dec = head.query_decoder
    coord, sigma = dec.coord_branches[0], dec.sigma_branches[0]
    linears = [m for m in coord if isinstance(m, torch.nn.Linear)]
    assert [tuple(m.weight.shape) for m in linears] == [(256, 256), (256, 256),
                                                        (2, 256)]
    for m in linears:
        assert _uniform(m.weight, 1 / 16)
        assert m.bias.abs().max() <= 1 / 16 and m.bias.abs().max() > 0
    for m in list(sigma)[:-1]:
        assert _uniform(m.weight, 1 / 16) and _uniform(m.bias, 1 / 16, 0.15)
    last = sigma[-1]
    assert _uniform(last.weight, 0.01 * math.sqrt(6 / 258))
    assert last.weight.std().item() == pytest.approx(0.000880, rel=0.1)
    assert 0 < last.bias.abs().max() <= 1 / 16
    for branch in (*dec.coord_branches, *dec.coord_out_branches):
        for p, q in zip(branch.parameters(), coord.parameters()):
            assert torch.equal(p, q)
    for branch in dec.sigma_branches:
        for p, q in zip(branch.parameters(), sigma.parameters()):
            assert torch.equal(p, q)

    # 'detr' (unchanged): small last layers with zero bias, branches drawn
    # one by one
    detr = _full_size_head('detr').query_decoder
    for branches in (detr.coord_branches, detr.coord_out_branches,
                     detr.sigma_branches):
        last = branches[0][-1]
        assert _close_to(last.weight.std().item(),
                         _xavier_std(last.weight, 0.01), 0.1)
        assert torch.equal(last.bias, torch.zeros_like(last.bias))
        assert not torch.equal(branches[0][0].weight, branches[1][0].weight)


def test_official_flows_start_at_pytorch_defaults():
    """The official RealNVP's ``_init`` (Xavier gain 0.01) is never called:
    every Linear of both flows keeps U(±1/√fan_in), 1/√2 = 0.707 for the
    2 → 64 layers and 1/8 for the 64 → 64 and 64 → 2 ones.

    MMPose's RealNVP (the 'detr' scheme keeps it) draws Xavier gain 0.01:
    std 0.00125 for 64 → 64.
    """
    head = _full_size_head()
    for loss in (head.coarse_loss, head.decoder_loss):
        by_fan_in = {}
        for m in loss.flow_model.modules():
            if isinstance(m, torch.nn.Linear):
                by_fan_in.setdefault(m.in_features, []).append(m)
        assert sorted(by_fan_in) == [2, 64]
        for fan_in, bound in ((2, 2**-0.5), (64, 0.125)):
            layers = by_fan_in[fan_in]
            weights = torch.cat([m.weight.flatten() for m in layers])
            biases = torch.cat([m.bias.flatten() for m in layers])
            assert _uniform(weights, bound) and _uniform(biases, bound)
    detr = _full_size_head('detr')
    w = detr.decoder_loss.flow_model.s[0][2].weight
    assert w.std().item() == pytest.approx(0.00125, rel=0.1)


def test_official_keypoint_encoder_keeps_the_default_bias():
    """The official ``pos_trans`` (Linear 2C → C) keeps PyTorch's default
    bias: U(±1/√512), bound 0.0442 at C = 256; 'detr' keeps our zero."""
    bias = _full_size_head().keypoint_encoder.proj.bias
    assert _uniform(bias, 512**-0.5, 0.15)
    bias = _full_size_head('detr').keypoint_encoder.proj.bias
    assert torch.equal(bias, torch.zeros_like(bias))


def test_mmengine_init_weights_reaches_neither_emsda_nor_the_flows(
        poseur_cfg, monkeypatch):
    """MMEngine's ``init_weights`` calls direct children only: the decoder
    layers sit in an ``nn.ModuleList`` and the flows in ``nn.Module`` losses,
    so EMSDA and RealNVP keep what their constructors drew.

    With 'detr' the weights are unchanged by ``init_weights``.
    """
    from mmpose.models.utils.realnvp import RealNVP

    from mmpose_ext.models.common import EMSDA
    model = MODELS.build(poseur_cfg(num_keypoints=5, init_scheme='detr'))
    before = {k: v.clone() for k, v in model.head.state_dict().items()}
    called = []
    monkeypatch.setattr(EMSDA, 'init_weights',
                        lambda self: called.append('EMSDA'))
    monkeypatch.setattr(RealNVP, 'init_weights',
                        lambda self: called.append('RealNVP'))
    model.init_weights()
    assert called == []
    after = model.head.state_dict()
    for k, v in before.items():
        assert torch.equal(after[k], v), k


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
