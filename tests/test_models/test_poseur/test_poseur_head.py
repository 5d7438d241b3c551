"""PoseurHead: K from the metainfo (COCO 17, CrowdPose 14), shapes, noisy
groups, losses, flip fusion, and the decoder layer against mmcv's
BaseTransformerLayer with mmcv's MSDA (the official layer)."""
import pytest
import torch
from mmcv.cnn.bricks.transformer import BaseTransformerLayer
from mmpose.registry import MODELS

from mmpose_ext.models.poseur import PoseurDecoderLayer

COCO = dict(from_file='configs/_base_/datasets/coco.py')
CROWDPOSE = dict(from_file='configs/_base_/datasets/crowdpose.py')


@pytest.mark.parametrize('metainfo,K', [(COCO, 17), (CROWDPOSE, 14)])
def test_forward_shapes_train_and_eval(poseur_cfg, metainfo, K):
    model = MODELS.build(poseur_cfg(metainfo=metainfo))
    assert model.head.num_keypoints == K
    x = torch.randn(2, 3, 64, 48)
    model.eval()
    coarse, coarse_sigma, coords, sigma = model(x, None, mode='tensor')
    assert coarse.shape == coarse_sigma.shape == (2, K, 2)
    # (B, D, K, 2): clean group only
    assert coords.shape == sigma.shape == (2, 2, K, 2)
    assert ((sigma > 0) & (sigma < 1)).all()
    model.train()
    _, _, coords, sigma = model(x, None, mode='tensor')
    assert coords.shape == (2, 2, 4 * K, 2)  # 1 clean + 3 noisy groups


def test_num_keypoints_and_metainfo_must_agree(poseur_cfg):
    with pytest.raises(ValueError, match='metainfo has 14'):
        MODELS.build(poseur_cfg(num_keypoints=17, metainfo=CROWDPOSE))
    with pytest.raises(
            ValueError, match='PoseurHead needs the number of keypoints'):
        MODELS.build(poseur_cfg())


@pytest.mark.parametrize('K', [17, 14])
def test_loss_terms_are_the_flow_losses_of_every_layer_and_group(
        poseur_cfg, samples, K):
    model = MODELS.build(poseur_cfg(num_keypoints=K, dropout=0.0))
    model.train()
    x = torch.randn(3, 3, 64, 48)
    data = samples(3, K)
    # invisible keypoints
    data[0].gt_instance_labels.keypoint_weights[0, :4] = 0
    feats = model.extract_feat(x)
    torch.manual_seed(1)
    losses = model.head.loss(feats, data)
    assert set(losses) == {'loss_coarse', 'loss_dec0', 'loss_dec1', 'acc_pose'}
    torch.manual_seed(1)  # same noisy groups
    coarse, coarse_sigma, coords, sigma = model.head(feats)
    labels = torch.cat([d.gt_instance_labels.keypoint_labels for d in data])
    weights = torch.cat([d.gt_instance_labels.keypoint_weights
                         for d in data])[..., None]
    expected = model.head.coarse_loss(coarse, coarse_sigma, labels, weights)
    assert torch.allclose(losses['loss_coarse'], expected)
    for lid in range(2):
        expected = model.head.decoder_loss(coords[:, lid], sigma[:, lid],
                                           labels.repeat(1, 4, 1),
                                           weights.repeat(1, 4, 1))
        assert torch.allclose(losses[f'loss_dec{lid}'], expected)
    assert all(torch.isfinite(v) for v in losses.values())
    # the two flows are separate modules; the decoder layers share one
    assert (model.head.coarse_loss.flow_model
            is not model.head.decoder_loss.flow_model)


def test_loss_rejects_a_keypoint_mismatch(poseur_cfg, samples):
    model = MODELS.build(poseur_cfg(num_keypoints=17))
    feats = model.extract_feat(torch.randn(2, 3, 64, 48))
    with pytest.raises(
            ValueError, match='17 keypoints but the targets have 14'):
        model.head.loss(feats, samples(2, 14))


def test_groups_attend_only_within_themselves(poseur_cfg):
    """Moving the references of a noisy group changes nothing in the clean
    group."""
    model = MODELS.build(poseur_cfg(num_keypoints=5, dropout=0.0))
    head = model.head.train()
    feats = model.extract_feat(torch.randn(2, 3, 64, 48))
    memory, sizes = head._memory(feats)
    ref = torch.rand(2, 10, 2)  # 2 groups of 5
    query_pos = head.query_pos.weight.repeat(2, 1)[None].expand(2, -1, -1)
    out_a, _ = head.query_decoder(
        head.keypoint_encoder(ref), query_pos, memory, ref, sizes, 2)
    ref_b = ref.clone()
    ref_b[:, 5:] = torch.rand(2, 5, 2)
    out_b, _ = head.query_decoder(
        head.keypoint_encoder(ref_b), query_pos, memory, ref_b, sizes, 2)
    assert torch.allclose(out_a[:, :, :5], out_b[:, :, :5], atol=1e-6)
    assert not torch.allclose(out_a[:, :, 5:], out_b[:, :, 5:], atol=1e-3)


def test_decoder_layer_equals_mmcv_base_transformer_layer():
    """Our post-norm layer = mmcv's BaseTransformerLayer(self_attn, norm,
    cross_attn=MSDA, norm, ffn, norm) per group (the official
    DetrTransformerDecoderLayer_grouped), weights copied, no dropout."""
    torch.manual_seed(0)
    C, heads, L, P, B, K, G = 32, 4, 2, 2, 2, 5, 3
    ours = PoseurDecoderLayer(
        C, heads, L, P, feedforward_channels=48, dropout=0.0).eval()
    ref_layer = BaseTransformerLayer(
        attn_cfgs=[
            dict(
                type='MultiheadAttention',
                embed_dims=C,
                num_heads=heads,
                attn_drop=0.0),
            dict(
                type='MultiScaleDeformableAttention',
                embed_dims=C,
                num_heads=heads,
                num_levels=L,
                num_points=P,
                dropout=0.0)
        ],
        ffn_cfgs=dict(
            type='FFN', embed_dims=C, feedforward_channels=48, ffn_drop=0.0),
        operation_order=('self_attn', 'norm', 'cross_attn', 'norm', 'ffn',
                         'norm'),
        batch_first=True).eval()
    with torch.no_grad():
        for p in ours.parameters():
            p.normal_(0, 0.2)
        ours.cross_attn.value_proj.bias.zero_()
    renamed = {
        k.replace('self_attn.', 'attentions.0.').replace(
            'cross_attn.', 'attentions.1.').replace('ffn.', 'ffns.0.'):
        v
        for k, v in ours.state_dict().items()
    }
    ref_layer.load_state_dict(renamed)

    shapes = torch.tensor([[4, 3], [2, 2]])
    memory = torch.randn(B, 16, C)
    query, query_pos = torch.randn(B, G * K, C), torch.randn(B, G * K, C)
    points = torch.rand(B, G * K, 2)
    out = ours(query, query_pos, memory, points, shapes, num_groups=G)
    expected = ref_layer(
        query.reshape(B * G, K, C),
        value=memory.repeat_interleave(G, 0),
        query_pos=query_pos.reshape(B * G, K, C),
        reference_points=points.reshape(B * G, K, 1, 2).expand(-1, -1, L, -1),
        spatial_shapes=shapes,
        level_start_index=torch.tensor([0, 12])).reshape(B, G * K, C)
    assert torch.allclose(
        out, expected, atol=1e-5), f'{(out - expected).abs().max()}'


def test_flip_fusion_by_hand(poseur_cfg):
    head = MODELS.build(poseur_cfg(num_keypoints=2,
                                   flip_fusion='laplace')).head
    coords = torch.tensor([[[0.2, 0.3], [0.6, 0.6]]])
    coords_flip = torch.tensor([[[0.4, 0.5], [0.6, 0.6]]])
    sigma = torch.tensor([[[0.1, 0.1], [0.05, 0.05]]])
    sigma_flip = torch.tensor([[[0.2, 0.2], [0.05, 0.05]]])
    fused, scores = head.fuse_flip(coords, sigma, coords_flip, sigma_flip)
    p = 0.7 * (1 - torch.exp(torch.tensor(-2.0)))**2  # σ = 0.1, radius 0.2
    p_flip = 0.7 * (1 - torch.exp(torch.tensor(-1.0)))**2  # σ = 0.2
    w, w_flip = p**5, p_flip**5
    expected = (coords[0, 0] * w + coords_flip[0, 0] * w_flip) / (w + w_flip)
    assert torch.allclose(fused[0, 0], expected, atol=1e-6)
    # equal σ: plain average of equal points
    assert torch.allclose(fused[0, 1], coords[0, 1])
    assert torch.allclose(scores[0, 0], (p + p_flip) / 2, atol=1e-6)
    head.flip_fusion = 'average'
    fused, _ = head.fuse_flip(coords, sigma, coords_flip, sigma_flip)
    assert torch.allclose(fused[0, 0], torch.tensor([0.3, 0.4]))


@pytest.mark.parametrize('K', [17, 14])
def test_predict_with_flip_test_returns_pixels_and_laplace_scores(
        poseur_cfg, samples, K):
    model = MODELS.build(poseur_cfg(num_keypoints=K)).eval()
    x = torch.randn(2, 3, 64, 48)
    flip_indices = list(range(K))[::-1]
    data = samples(2, K, flip_indices)
    with torch.no_grad():
        feats, feats_flip = model.extract_feat(x), model.extract_feat(
            x.flip(-1))
        preds = model.head.predict([feats, feats_flip], data,
                                   dict(flip_test=True, shift_coords=False))
        _, _, coords, sigma = model.head(feats)
        _, _, coords_f, sigma_f = model.head(feats_flip)
    coords_f, sigma_f = coords_f[:, -1,
                                 flip_indices].clone(), sigma_f[:, -1,
                                                                flip_indices]
    coords_f[..., 0] = 1 - coords_f[..., 0]
    fused, scores = model.head.fuse_flip(coords[:, -1], sigma[:, -1], coords_f,
                                         sigma_f)
    for i, pred in enumerate(preds):
        assert pred.keypoints.shape == (
            1, K, 2) and pred.keypoint_scores.shape == (1, K)
        pixels = fused[i].numpy() * [48, 64]
        assert abs(pred.keypoints[0] - pixels).max() < 1e-3
        assert abs(pred.keypoint_scores[0] - scores[i].numpy()).max() < 1e-6
    with pytest.raises(ValueError, match='flip indices'):
        model.head.predict([feats, feats_flip],
                           samples(2, K, list(range(K + 1))),
                           dict(flip_test=True))


def test_shared_decoder_layers_save_parameters(poseur_cfg):
    per_layer = MODELS.build(
        poseur_cfg(num_keypoints=17, num_decoder_layers=3)).head
    shared = MODELS.build(
        poseur_cfg(
            num_keypoints=17, num_decoder_layers=3,
            share_decoder_layers=True)).head
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert len(shared.query_decoder.layers) == 1 and len(
        per_layer.query_decoder.layers) == 3
    assert n(per_layer) - n(shared) == 2 * n(shared.query_decoder.layers[0])
