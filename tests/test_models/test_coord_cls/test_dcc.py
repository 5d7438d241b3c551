"""DynamicCoordinateClassifier against MMPose 1.3.2's DCC (weights copied), its static mode, its fast path."""
import numpy as np
import pytest
import torch

from mmpose.models.heads.hybrid_heads.rtmo_head import DCC
from mmpose.registry import MODELS
from mmpose.structures.bbox import bbox_xyxy2cs
from mmpose_ext.models.coord_cls import DynamicCoordinateClassifier
from mmpose_ext.models.coord_cls.dcc import bin_softmax

GAU = dict(s=16, expansion_factor=2, dropout_rate=0.0, drop_path=0.0, act_fn='SiLU', pos_enc='add')


def _pair(K, gau_cfg=GAU, dtype=torch.float64):
    kw = dict(in_channels=24, num_keypoints=K, feat_channels=32, num_bins=(48, 64), spe_channels=16,
              spe_temperature=300.0, gau_cfg=gau_cfg)
    ref = DCC(**kw)
    ours = MODELS.build(dict(type='DynamicCoordinateClassifier', **kw))
    ours.load_state_dict(ref.state_dict())  # same parameter names: MMPose's state dict loads as is
    # give BatchNorm non-trivial statistics so that eval mode is checked too
    ref.pose_to_kpts[1].running_mean.uniform_(-1, 1)
    ref.pose_to_kpts[1].running_var.uniform_(0.5, 2)
    ours.load_state_dict(ref.state_dict())
    return ref.to(dtype), ours.to(dtype)


def _inputs(N, dtype=torch.float64):
    xy = torch.rand(N, 2, dtype=dtype) * 500
    wh = torch.rand(N, 2, dtype=dtype) * 200 + 2
    boxes = torch.cat([xy, xy + wh], dim=1)
    grids = xy + torch.rand(N, 2, dtype=dtype) * wh  # anchor points inside the boxes
    return torch.randn(N, 24, dtype=dtype), boxes, grids


@pytest.mark.parametrize('K', [17, 14])
@pytest.mark.parametrize('gau_cfg', [GAU, None], ids=['gau', 'no-gau'])
@pytest.mark.parametrize('train', [True, False], ids=['train', 'eval'])
def test_equals_mmpose_dcc(K, gau_cfg, train):
    ref, ours = _pair(K, gau_cfg)
    ref.train(train), ours.train(train)
    feats, boxes, grids = _inputs(9)
    bbox_cs = torch.cat(bbox_xyxy2cs(boxes, 1.25), dim=1)
    ref_kpts, (ref_px, ref_py), ref_sigma = ref.forward_train(feats, bbox_cs, grids)
    x_logits, y_logits, kpts, sigma = ours(feats, boxes, grids)
    assert x_logits.shape == (9, K, 48) and y_logits.shape == (9, K, 64) and kpts.shape == (9, K, 2)
    torch.testing.assert_close(kpts, ref_kpts, rtol=0, atol=1e-5)
    torch.testing.assert_close(sigma, ref_sigma, rtol=0, atol=1e-5)
    torch.testing.assert_close(bin_softmax(x_logits), ref_px, rtol=0, atol=1e-5)
    torch.testing.assert_close(bin_softmax(y_logits), ref_py, rtol=0, atol=1e-5)
    if not train:  # MMPose's inference path gives the same keypoints
        torch.testing.assert_close(kpts, ref.forward_test(feats, bbox_cs, grids), rtol=0, atol=1e-5)


def test_float32_error_at_rtmo_s_shapes_is_mmposes_own():
    """RTMO-s sizes (in 256, C 128, bins 192x256, S 128, s 128), float32, 640x640-scale coordinates.

    At random init the logits reach a few hundred, so float32 rounding alone moves MMPose's own decoded
    keypoints by ~1e-3 px from its float64 result; ours must stay within twice that error of float64.
    """
    kw = dict(in_channels=256, num_keypoints=17, feat_channels=128, num_bins=(192, 256),
              gau_cfg=dict(GAU, s=128))  # MMPose's default gau_cfg does not build (use_rel_bias)
    ref = DCC(**kw).eval()
    ours = DynamicCoordinateClassifier(**kw).eval()
    ours.load_state_dict(ref.state_dict())
    feats, boxes, grids = _inputs(16, torch.float32)
    feats = torch.randn(16, 256)
    bbox_cs = torch.cat(bbox_xyxy2cs(boxes, 1.25), dim=1)
    with torch.no_grad():
        ref32, _, ref_sigma = ref.forward_train(feats, bbox_cs, grids)
        _, _, ours32, sigma = ours(feats, boxes, grids)
        ref64 = ref.double().forward_train(feats.double(), bbox_cs.double(), grids.double())[0]
    mmpose_err = (ref32 - ref64).abs().max()
    ours_err = (ours32 - ref64).abs().max()
    assert ours_err <= 2 * mmpose_err + 1e-4, (ours_err, mmpose_err)
    torch.testing.assert_close(sigma, ref_sigma, rtol=0, atol=1e-6)


@pytest.mark.parametrize('K', [17, 14])
def test_fast_path_equals_reference_path(K):
    _, ours = _pair(K)
    feats, boxes, grids = _inputs(5)
    fast = ours(feats, boxes, grids)
    ours.fast = False
    slow = ours(feats, boxes, grids)
    for a, b in zip(fast, slow):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-9)


def test_origin_only_moves_the_encoding():
    """Without an origin, bins are encoded in absolute coordinates: logits change, decoding frame not."""
    _, ours = _pair(17)
    feats, boxes, grids = _inputs(4)
    with_origin = ours(feats, boxes, grids)
    without = ours(feats, boxes, None)
    assert not torch.allclose(with_origin[0], without[0])
    x_bins, y_bins = ours.bin_coords(boxes)
    for kpts in (with_origin[2], without[2]):  # decoded coordinates lie inside the padded boxes
        assert (kpts[..., 0] >= x_bins[:, :1] - 1e-9).all() and (kpts[..., 0] <= x_bins[:, -1:] + 1e-9).all()
        assert (kpts[..., 1] >= y_bins[:, :1] - 1e-9).all() and (kpts[..., 1] <= y_bins[:, -1:] + 1e-9).all()


@pytest.mark.parametrize('K', [17, 14])
def test_static_mode_equals_dynamic_mode_on_the_matching_box(K):
    """Static bins i·W/Bx equal dynamic bins of the box [0, 0, (Bx−1)W/Bx, (By−1)H/By] at padding 1, no
    origin. Static mode ignores the boxes it is given."""
    W, H = 48, 64
    kw = dict(in_channels=24, num_keypoints=K, feat_channels=32, num_bins=(96, 128), spe_channels=16,
              gau_cfg=GAU)
    static = DynamicCoordinateClassifier(static_size=(W, H), **kw).double().eval()
    dynamic = DynamicCoordinateClassifier(bbox_padding=1.0, **kw).double().eval()
    dynamic.load_state_dict(static.state_dict())
    # the unit bins are float32 linspace buffers; make them exact in float64 for a 1e-9 comparison
    dynamic.x_bins = torch.linspace(-0.5, 0.5, 96, dtype=torch.float64)
    dynamic.y_bins = torch.linspace(-0.5, 0.5, 128, dtype=torch.float64)
    x_bins, y_bins = static.bin_coords()
    torch.testing.assert_close(x_bins, torch.arange(96, dtype=torch.float64) / 2)  # SimCC: i / split ratio
    feats = torch.randn(3, 24, dtype=torch.float64)
    box = torch.tensor([[0.0, 0.0, 95 * W / 96, 127 * H / 128]], dtype=torch.float64).expand(3, 4)
    out_s = static(feats, torch.rand(3, 4, dtype=torch.float64))
    out_d = dynamic(feats, box, None)
    for a, b in zip(out_s, out_d):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-9)


def test_static_codes_cache_follows_the_weights():
    static = DynamicCoordinateClassifier(24, 17, feat_channels=32, num_bins=(96, 128), spe_channels=16,
                                         gau_cfg=GAU, static_size=(48, 64)).eval()
    feats = torch.randn(3, 24)
    with torch.no_grad():
        first = static(feats)[0]
        torch.testing.assert_close(static(feats)[0], first, rtol=0, atol=0)  # cached codes
        static.x_fc.weight.mul_(2.0)  # an in-place update (optimiser step) must invalidate the cache
        changed = static(feats)[0]
    fresh = static(feats)[0]  # autograd on: never cached
    assert fresh.requires_grad and not torch.allclose(changed, first)
    torch.testing.assert_close(changed, fresh.detach(), rtol=0, atol=1e-6)
    static.load_state_dict(DynamicCoordinateClassifier(
        24, 17, feat_channels=32, num_bins=(96, 128), spe_channels=16, gau_cfg=GAU,
        static_size=(48, 64)).state_dict())  # load_state_dict copies in place: cache invalidated too
    with torch.no_grad():
        loaded = static(feats)[0]
    assert not torch.allclose(loaded, changed)
    torch.testing.assert_close(loaded, static(feats)[0].detach(), rtol=0, atol=1e-6)


def test_decode_is_the_expectation_over_bins():
    x_bins = torch.tensor([0.0, 10.0, 20.0])
    logits = torch.tensor([[[0.0, 1e4, 0.0]]])  # all mass on the middle bin
    kpts = DynamicCoordinateClassifier.decode(logits, torch.zeros(1, 1, 2), x_bins, torch.tensor([3.0, 5.0]))
    torch.testing.assert_close(kpts, torch.tensor([[[10.0, 4.0]]]))


def test_gradcheck_fast_path():
    ours = DynamicCoordinateClassifier(24, 3, feat_channels=8, num_bins=(6, 7), spe_channels=8,
                                       gau_cfg=dict(GAU, s=4)).double().eval()
    feats, boxes, grids = _inputs(2)
    feats.requires_grad_(True)
    boxes.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda f, b: ours(f, b, grids)[2], (feats, boxes), eps=1e-6, atol=1e-5)


def test_clear_errors():
    _, ours = _pair(17)
    feats, boxes, _ = _inputs(3)
    with pytest.raises(ValueError, match='bboxes'):
        ours(feats, None)
    with pytest.raises(ValueError, match='pose_feats'):
        ours(torch.randn(3, 7, dtype=torch.float64), boxes)
    with pytest.raises(ValueError, match='num_keypoints'):
        DynamicCoordinateClassifier(8, 0)


@pytest.mark.parametrize('train', [True, False], ids=['train', 'eval'])
def test_no_instances_give_empty_outputs(train):
    _, ours = _pair(14)
    ours.train(train)
    x_logits, y_logits, kpts, sigma = ours(torch.zeros(0, 24, dtype=torch.float64),
                                           torch.zeros(0, 4, dtype=torch.float64))
    assert x_logits.shape == (0, 14, 48) and y_logits.shape == (0, 14, 64)
    assert kpts.shape == (0, 14, 2) and sigma.shape == (0, 14)


def test_single_instance_in_training_is_a_clear_error():
    _, ours = _pair(17)
    feats, boxes, _ = _inputs(1)
    with pytest.raises(ValueError, match='N >= 2'):
        ours.train()(feats, boxes)
    assert ours.eval()(feats, boxes)[2].shape == (1, 17, 2)


class _DCCGraph(torch.nn.Module):
    """forward(pose_feats, bboxes, origin) → the DCC's four tensors, for a standalone export."""

    def __init__(self, dcc):
        super().__init__()
        self.dcc = dcc

    def forward(self, pose_feats, bboxes, origin):
        return self.dcc(pose_feats, bboxes, origin)


def test_dynamic_mode_exports_to_onnx_opset13(tmp_path):
    """MMDeploy cannot export MMPose's DCC at opset 11; ours (with MMPose's GAU) exports at 13."""
    ort = pytest.importorskip('onnxruntime')
    dcc = DynamicCoordinateClassifier(24, 14, feat_channels=32, num_bins=(48, 64), spe_channels=16,
                                      gau_cfg=GAU).eval()
    feats, boxes, grids = _inputs(5, torch.float32)
    path = str(tmp_path / 'dcc.onnx')
    names = ['x_logits', 'y_logits', 'keypoints', 'sigma']
    torch.onnx.export(_DCCGraph(dcc).eval(), (feats, boxes, grids), path, dynamo=False, opset_version=13,
                      input_names=['pose_feats', 'bboxes', 'origin'], output_names=names,
                      dynamic_axes={n: {0: 'N'} for n in ['pose_feats', 'bboxes', 'origin', *names]})
    feats, boxes, grids = _inputs(7, torch.float32)
    outs = ort.InferenceSession(path, providers=['CPUExecutionProvider']).run(
        None, dict(pose_feats=feats.numpy(), bboxes=boxes.numpy(), origin=grids.numpy()))
    assert not dcc.training  # (an export restores the wrapper's mode; the wrapper was in eval)
    with torch.no_grad():
        ref = dcc(feats, boxes, grids)
    for name, o, r in zip(names, outs, ref):
        # keypoints are absolute pixels (up to ~700 here): compare relative to their magnitude
        tol = 1e-4 * max(1.0, r.abs().max().item()) if name == 'keypoints' else 1e-4
        assert np.abs(o - r.numpy()).max() <= tol, (name, np.abs(o - r.numpy()).max())
