"""TokenPose-L (TokenPoseLHead) and TokenPose-T (TokenPoseImageInput +
TokenPoseHead): shapes for K = 17 and 14, the L head's forward against an
independent loop over its layers with the official position-embedding rule,
parameter counts against the paper / the official config, loss and predict on
the bundled images, ONNX."""
import re
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmpose.registry import MODELS
from tokenpose_helpers import build_small_model

from mmpose_ext.deploy import check_onnx, export_onnx

CONFIG_DIR = Path(__file__).resolve().parents[3] / 'configs/tokenpose'
L_CONFIG = CONFIG_DIR / ('tokenpose-l-d24_hrnet-w48-stage3_4xb16-300e_coco-'
                         '256x192.py')
T_CONFIG = CONFIG_DIR / 'tokenpose-t_image-patch_4xb32-300e_coco-256x192.py'
METAINFO = {
    17: dict(from_file='configs/_base_/datasets/coco.py'),
    14: dict(from_file='configs/_base_/datasets/crowdpose.py')
}


def small_l_head(**kwargs):
    cfg = dict(
        type='TokenPoseLHead',
        in_channels=8,
        patch_size=(2, 2),
        heatmap_size=(6, 8),
        embed_dims=16,
        depth=(2, 2, 2),
        num_heads=2,
        mlp_ratio=2)
    cfg.update(kwargs)
    head = MODELS.build(cfg)
    head.init_weights()
    return head.eval()


@pytest.mark.parametrize('k', [17, 14])
def test_l_head_shapes_and_k_from_metainfo(k):
    head = small_l_head(metainfo=METAINFO[k])
    assert head.out_channels == k and head.keypoint_tokens.shape == (1, k, 16)
    assert len(
        head.transformer) == 3 and [len(t.layers)
                                    for t in head.transformer] == [2, 2, 2]
    # fused width 3 * 16 = 48 > hidden 6*8//8 = 6 / 2: the official rule gives
    # LN -> Linear(48, 48)
    assert [type(m).__name__ for m in head.mlp_head] == ['LayerNorm', 'Linear']
    assert head.mlp_head[1].in_features == 48 and head.mlp_head[
        1].out_features == 48
    with torch.no_grad():
        heatmaps, weights, grid = head.forward_with_attention(
            (torch.randn(3, 8, 8, 6), ))
    assert heatmaps.shape == (3, k, 8, 6) and heatmaps.dtype == torch.float32
    assert grid == (4, 3) and len(weights) == 6 and weights[0].shape == (
        3, 2, k + 12, k + 12)
    # tensors only
    assert isinstance(head.forward((torch.randn(1, 8, 8, 6), )), torch.Tensor)


def test_l_head_equals_chained_transformers_with_official_pos_rule():
    """By hand: pos added to the input of the first transformer, then before
    every layer but the first of each of the three (official
    Transformer.forward: ``if idx > 0 and all_attn``); the keypoint outputs of
    the three are concatenated along channels before the MLP."""
    torch.manual_seed(0)
    head = small_l_head(out_channels=5)
    feats = torch.randn(2, 8, 8, 6)
    with torch.no_grad():
        tokens = torch.cat([
            head.keypoint_tokens.expand(2, -1, -1),
            head.patch_embed(head.patchify(feats))
        ], 1)
        pos = head.position_embedding(4, 3, tokens)
        x, outs, added = tokens + pos, [], 1
        for stage in head.transformer:
            for idx, layer in enumerate(stage.layers):
                if idx > 0:
                    x, added = x + pos, added + 1
                x = layer(x)[0]
            outs.append(x[:, :5])
        expected = head.mlp_head(torch.cat(outs, -1)).reshape(2, 5, 8, 6)
        torch.testing.assert_close(head((feats, )), expected, rtol=0, atol=0)
    assert added == 4  # 6 layers, 3 transformers: before 4 of them

    # 'sine' (pos_every_layer=False): the embedding reaches only the very first
    # layer
    head_sine = small_l_head(out_channels=5, pos_every_layer=False)
    head_sine.load_state_dict(head.state_dict())
    with torch.no_grad():
        x = tokens + pos
        outs = []
        for stage in head_sine.transformer:
            for layer in stage.layers:
                x = layer(x)[0]
            outs.append(x[:, :5])
        torch.testing.assert_close(
            head_sine((feats, )),
            head_sine.mlp_head(torch.cat(outs, -1)).reshape(2, 5, 8, 6),
            rtol=0,
            atol=0)


def test_l_head_rejects_a_single_depth():
    with pytest.raises(ValueError, match='depth must be a non-empty sequence'):
        small_l_head(out_channels=5, depth=8)


def _build(config):
    cfg = Config.fromfile(str(config))
    cfg.model.backbone.pop('init_cfg', None)  # no hub here
    with DefaultScope.overwrite_default_scope('mmpose'):
        return MODELS.build(cfg.model)


def _dead_fuse(name):
    """MMPose's HRNet keeps the last stage-3 module's fusions into branches
    1-2, which reach no output (the official HRNET_base ends stage 3 with
    multi_scale_output=False): not counted against the paper."""
    return re.match(r'backbone\.stage3\.3\.fuse_layers\.[12]\.',
                    name) is not None


def test_l_d24_parameter_count_matches_the_paper():
    model = _build(L_CONFIG)
    live = sum(p.numel() for n, p in model.named_parameters()
               if not _dead_fuse(n))
    dead = sum(p.numel() for n, p in model.named_parameters() if _dead_fuse(n))
    # paper: 27.5 M (HRNet-W48's 63.6 M less 56.8%); we count 27.48 M (+0.33 M
    # dead fuse layers)
    assert abs(live / 1e6 - 27.5) < 0.05, live
    assert dead == 330720
    head = model.head
    # 24 layers, patch embed, tokens, MLP
    assert sum(p.numel() for p in head.parameters()) == 10776576
    assert head.mlp_head[1].in_features == 3 * 192 and head.mlp_head[
        1].out_features == 64 * 48
    assert [len(t.layers) for t in head.transformer] == [8, 8, 8]
    assert head.transformer[0].layers[0].attn.num_heads == 12
    assert head.transformer[0].layers[0].attn.scale == (192 // 12)**-0.5


def test_t_is_the_pure_transformer_of_the_official_config():
    model = _build(T_CONFIG)
    assert not any(True for _ in model.backbone.parameters())  # no CNN
    params = sum(p.numel() for p in model.parameters())
    # official yaml header "580.3w"; we count 5,816,448
    assert abs(params / 1e6 - 5.803) < 0.02, params
    head = model.head
    assert (head.patch_embed.in_features == 3 * 16 * 12
            and head.transformer.layers[0].attn.num_heads == 16)
    assert [
        m.out_features for m in head.mlp_head
        if isinstance(m, torch.nn.Linear)
    ] == [384, 64 * 48]
    x = torch.randn(1, 3, 256, 192)
    assert model.backbone(x)[0] is x
    _, _, grid = head.forward_with_attention(
        model.extract_feat(x), need_weights=False)
    assert grid == (16, 16)  # 256 visual tokens


def _small_l_model(k, metainfo):
    return build_small_model(
        k, metainfo, type='TokenPoseLHead', depth=(1, 1, 1), hidden_dims=None)


def test_l_loss_and_predict_on_fixture_images(fixture_batch):
    k = fixture_batch['num_keypoints']
    torch.manual_seed(0)
    model = _small_l_model(k, fixture_batch['metainfo'])
    assert type(model.head).__name__ == 'TokenPoseLHead'
    data = model.data_preprocessor(fixture_batch['batch'], training=True)
    losses = model.loss(**data)
    assert torch.isfinite(losses['loss_kpt']) and losses['loss_kpt'] > 0
    losses['loss_kpt'].backward()
    assert all(p.grad is not None for p in model.head.parameters())
    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(fixture_batch['batch'], training=False)
        results = model.predict(**data)
    n = len(fixture_batch['batch']['data_samples'])
    assert len(results) == n
    assert results[0].pred_instances.keypoints.shape == (1, k, 2)


def test_l_onnx_matches_onnxruntime(tmp_path):
    torch.manual_seed(0)
    model = _small_l_model(17, None).eval()
    path = export_onnx(
        model,
        tmp_path / 'tokenpose_l.onnx',
        input_shape=(1, 3, 64, 48),
        opset=17)
    assert check_onnx(model, path, torch.randn(2, 3, 64, 48)) <= 1e-4
