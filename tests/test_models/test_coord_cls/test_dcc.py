"""DynamicCoordinateClassifier against MMPose 1.3.2's DCC (weights copied), its
float32 error against MMPose's, its static mode, its fast path, a batch of one,
bf16 autocast, ONNX."""
import numpy as np
import pytest
import torch
from mmpose.models.heads.hybrid_heads.rtmo_head import DCC
from mmpose.registry import MODELS
from mmpose.structures.bbox import bbox_xyxy2cs

from mmpose_ext.models.coord_cls import DynamicCoordinateClassifier
from mmpose_ext.models.coord_cls.dcc import bin_softmax, boxes_to_center_scale
from ._tolerance import EPS32, EPS_BF16, expectation_bound, graph_atol

GAU = dict(
    s=16,
    expansion_factor=2,
    dropout_rate=0.0,
    drop_path=0.0,
    act_fn='SiLU',
    pos_enc='add')


def _pair(K, gau_cfg=GAU, dtype=torch.float64):
    kw = dict(
        in_channels=24,
        num_keypoints=K,
        feat_channels=32,
        num_bins=(48, 64),
        spe_channels=16,
        spe_temperature=300.0,
        gau_cfg=gau_cfg)
    ref = DCC(**kw)
    ours = MODELS.build(dict(type='DynamicCoordinateClassifier', **kw))
    # same parameter names: MMPose's state dict loads as is
    ours.load_state_dict(ref.state_dict())
    # give BatchNorm non-trivial statistics so that eval mode is checked too
    ref.pose_to_kpts[1].running_mean.uniform_(-1, 1)
    ref.pose_to_kpts[1].running_var.uniform_(0.5, 2)
    ours.load_state_dict(ref.state_dict())
    return ref.to(dtype), ours.to(dtype)


def _inputs(N, dtype=torch.float64):
    xy = torch.rand(N, 2, dtype=dtype) * 500
    wh = torch.rand(N, 2, dtype=dtype) * 200 + 2
    boxes = torch.cat([xy, xy + wh], dim=1)
    # anchor points inside the boxes
    grids = xy + torch.rand(N, 2, dtype=dtype) * wh
    return torch.randn(N, 24, dtype=dtype), boxes, grids


@pytest.mark.parametrize('K', [17, 14])
@pytest.mark.parametrize('gau_cfg', [GAU, None], ids=['gau', 'no-gau'])
@pytest.mark.parametrize('train', [True, False], ids=['train', 'eval'])
def test_equals_mmpose_dcc(K, gau_cfg, train):
    ref, ours = _pair(K, gau_cfg)
    ref.train(train), ours.train(train)
    feats, boxes, grids = _inputs(9)
    bbox_cs = torch.cat(bbox_xyxy2cs(boxes, 1.25), dim=1)
    ref_kpts, (ref_px,
               ref_py), ref_sigma = ref.forward_train(feats, bbox_cs, grids)
    x_logits, y_logits, kpts, sigma = ours(feats, boxes, grids)
    assert x_logits.shape == (9, K, 48) and y_logits.shape == (
        9, K, 64) and kpts.shape == (9, K, 2)
    # float64: the two differ in the order of operations only (rounding ~1e-13
    # at these magnitudes)
    torch.testing.assert_close(kpts, ref_kpts, rtol=0, atol=1e-9)
    torch.testing.assert_close(sigma, ref_sigma, rtol=0, atol=1e-12)
    torch.testing.assert_close(
        bin_softmax(x_logits), ref_px, rtol=0, atol=1e-12)
    torch.testing.assert_close(
        bin_softmax(y_logits), ref_py, rtol=0, atol=1e-12)
    if not train:  # MMPose's inference path gives the same keypoints
        torch.testing.assert_close(
            kpts, ref.forward_test(feats, bbox_cs, grids), rtol=0, atol=1e-9)


def _mmpose_logits(dcc, feats, bbox_cs, grids):
    """MMPose's DCC logits (its 1-D heatmaps before the softmax), by its own
    two steps."""
    x_enc, y_enc = dcc._get_bin_enc(bbox_cs, grids)
    return dcc._pose_feats_to_heatmaps(feats, x_enc, y_enc)


def test_float32_error_at_rtmo_s_shapes_is_mmposes_own():
    """RTMO-s sizes (in 256, C 128, bins 192x256, S 128, s 128), float32, boxes
    up to 700 px.

    The exact result is the float64 evaluation of the same float32 inputs and
    weights (where ours equals MMPose's). At random init the logits reach ~450
    and the bin positions feed a 1 rad/px sine channel, so float32 rounding of
    the box centres/sizes and bin positions alone moves the logits by ~3e-3.

    1. Logits: ours within 1.25 × MMPose's own float32 error. Both errors are
       dominated by that position rounding, which we compute with MMPose's
       operations; the rest (the code product's summation order, our fast path)
       leaves the ratio at 0.97-1.05 × over 6 seeds, and at 0.99-1.03 × at this
       seed under ATen AVX-512/AVX2/default, MKL AVX2, MKL_CBWR=COMPATIBLE and
       oneDNN AVX2 kernels with 1-2 threads. Encoding (absolute bins − origin),
       as we did before, measured 1.44-1.73 ×.
    2. Keypoints: within what those logit errors allow the softmax expectation
       (``expectation_bound``: (e^2Δ − 1)·MAD + decoding rounding; measured at
       ≤ 0.10 of it). Not a ratio to MMPose's keypoint
       error: that ratio is heavy-tailed (a bimodal bin distribution has a MAD
           of ~100 px) and moved
       between 0.5 and 1.9 × with the kernels alone.
    """
    kw = dict(
        in_channels=256,
        num_keypoints=17,
        feat_channels=128,
        num_bins=(192, 256),
        # MMPose's default gau_cfg does not build (use_rel_bias)
        gau_cfg=dict(GAU, s=128))
    ref = DCC(**kw).eval()
    ours = DynamicCoordinateClassifier(**kw).eval()
    ours.load_state_dict(ref.state_dict())
    feats, boxes, grids = _inputs(16, torch.float32)
    feats = torch.randn(16, 256)
    with torch.no_grad():
        ref_logits = _mmpose_logits(
            ref, feats, torch.cat(bbox_xyxy2cs(boxes, 1.25), dim=1), grids)
        x_logits, y_logits, kpts, _ = ours(feats, boxes, grids)
        ours.double()
        exact = ours(feats.double(), boxes.double(), grids.double())
        ref_exact = _mmpose_logits(
            ref.double(), feats.double(),
            torch.cat(bbox_xyxy2cs(boxes.double(), 1.25), dim=1),
            grids.double())
    # the float64 reference is MMPose's too (float64 rounding ~1e-13 at logits
    # ~450)
    for axis in (0, 1):
        torch.testing.assert_close(
            exact[axis], ref_exact[axis], rtol=0, atol=1e-9)
    ours_err = max((got.double() - exact[axis]).abs().max().item()
                   for axis, got in enumerate((x_logits, y_logits)))
    mmpose_err = max((got.double() - exact[axis]).abs().max().item()
                     for axis, got in enumerate(ref_logits))
    assert ours_err <= 1.25 * mmpose_err, (ours_err, mmpose_err)

    x_bins, y_bins = ours.bin_coords(boxes.double())
    axes = ((x_logits, x_bins), (y_logits, y_bins))
    for axis, (logits, bins) in enumerate(axes):
        bound = expectation_bound(logits.double() - exact[axis],
                                  bin_softmax(exact[axis]), bins,
                                  exact[2][..., axis])
        err = (kpts[..., axis].double() - exact[2][..., axis]).abs()
        assert (err
                <= bound).all(), (err.max().item(), (err / bound).max().item())


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
    """Without an origin, bins are encoded in absolute coordinates: logits
    change, decoding frame not."""
    _, ours = _pair(17)
    feats, boxes, grids = _inputs(4)
    with_origin = ours(feats, boxes, grids)
    without = ours(feats, boxes, None)
    assert not torch.allclose(with_origin[0], without[0])
    x_bins, y_bins = ours.bin_coords(boxes)
    # decoded coordinates lie inside the padded boxes
    for kpts in (with_origin[2], without[2]):
        assert (kpts[..., 0] >= x_bins[:, :1] -
                1e-9).all() and (kpts[..., 0] <= x_bins[:, -1:] + 1e-9).all()
        assert (kpts[..., 1] >= y_bins[:, :1] -
                1e-9).all() and (kpts[..., 1] <= y_bins[:, -1:] + 1e-9).all()


@pytest.mark.parametrize('K', [17, 14])
def test_static_mode_equals_dynamic_mode_on_the_matching_box(K):
    """Static bins i·W/Bx equal dynamic bins of the box [0, 0, (Bx−1)W/Bx,
    (By−1)H/By] at padding 1, no origin.

    Static mode ignores the boxes it is given.
    """
    W, H = 48, 64
    kw = dict(
        in_channels=24,
        num_keypoints=K,
        feat_channels=32,
        num_bins=(96, 128),
        spe_channels=16,
        gau_cfg=GAU)
    static = DynamicCoordinateClassifier(
        static_size=(W, H), **kw).double().eval()
    dynamic = DynamicCoordinateClassifier(
        bbox_padding=1.0, **kw).double().eval()
    dynamic.load_state_dict(static.state_dict())
    # the unit bins are float32 linspace buffers; make them exact in float64
    # for a 1e-9 comparison
    dynamic.x_bins = torch.linspace(-0.5, 0.5, 96, dtype=torch.float64)
    dynamic.y_bins = torch.linspace(-0.5, 0.5, 128, dtype=torch.float64)
    x_bins, y_bins = static.bin_coords()
    # SimCC: i / split ratio
    torch.testing.assert_close(x_bins,
                               torch.arange(96, dtype=torch.float64) / 2)
    feats = torch.randn(3, 24, dtype=torch.float64)
    box = torch.tensor([[0.0, 0.0, 95 * W / 96, 127 * H / 128]],
                       dtype=torch.float64).expand(3, 4)
    out_s = static(feats, torch.rand(3, 4, dtype=torch.float64))
    out_d = dynamic(feats, box, None)
    for a, b in zip(out_s, out_d):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-9)


def test_static_codes_cache_follows_the_weights():
    """float64, so that a recomputation in another summation order (MKL picks
    kernels by alignment) stays.

    ~1e-15 relative: 1e-12 below.
    """
    static = DynamicCoordinateClassifier(
        24,
        17,
        feat_channels=32,
        num_bins=(96, 128),
        spe_channels=16,
        gau_cfg=GAU,
        static_size=(48, 64)).double().eval()
    feats = torch.randn(3, 24, dtype=torch.float64)
    with torch.no_grad():
        first = static(feats)[0]
        # cached codes
        torch.testing.assert_close(static(feats)[0], first, rtol=0, atol=0)
        # an in-place update (optimiser step) must invalidate the cache
        static.x_fc.weight.mul_(2.0)
        changed = static(feats)[0]
    fresh = static(feats)[0]  # autograd on: never cached
    assert fresh.requires_grad and not torch.allclose(changed, first)
    torch.testing.assert_close(changed, fresh.detach(), rtol=1e-12, atol=0)
    static.load_state_dict(
        DynamicCoordinateClassifier(
            24,
            17,
            feat_channels=32,
            num_bins=(96, 128),
            spe_channels=16,
            gau_cfg=GAU,
            # load_state_dict copies in place: cache invalidated too
            static_size=(48, 64)).state_dict())
    with torch.no_grad():
        loaded = static(feats)[0]
    assert not torch.allclose(loaded, changed)
    torch.testing.assert_close(
        loaded, static(feats)[0].detach(), rtol=1e-12, atol=0)


def test_decode_is_the_expectation_over_bins():
    x_bins = torch.tensor([0.0, 10.0, 20.0])
    logits = torch.tensor([[[0.0, 1e4, 0.0]]])  # all mass on the middle bin
    kpts = DynamicCoordinateClassifier.decode(logits, torch.zeros(1, 1, 2),
                                              x_bins, torch.tensor([3.0, 5.0]))
    torch.testing.assert_close(kpts, torch.tensor([[[10.0, 4.0]]]))


def test_gradcheck_fast_path():
    ours = DynamicCoordinateClassifier(
        24,
        3,
        feat_channels=8,
        num_bins=(6, 7),
        spe_channels=8,
        gau_cfg=dict(GAU, s=4)).double().eval()
    feats, boxes, grids = _inputs(2)
    feats.requires_grad_(True)
    boxes.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda f, b: ours(f, b, grids)[2], (feats, boxes), eps=1e-6, atol=1e-5)


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
    x_logits, y_logits, kpts, sigma = ours(
        torch.zeros(0, 24, dtype=torch.float64),
        torch.zeros(0, 4, dtype=torch.float64))
    assert x_logits.shape == (0, 14, 48) and y_logits.shape == (0, 14, 64)
    assert kpts.shape == (0, 14, 2) and sigma.shape == (0, 14)


def test_single_instance_in_training_uses_the_running_statistics():
    """MMPose's DCC cannot train on one instance (PyTorch's BatchNorm raises);
    ours normalises it with the running statistics, as eval mode (so it equals
    MMPose's DCC in eval mode), leaves them unchanged, and every parameter gets
    a gradient.

    Two or more instances stay MMPose's train mode (test_equals_mmpose_dcc).
    """
    ref, ours = _pair(17)
    feats, boxes, grids = _inputs(1)
    bbox_cs = torch.cat(bbox_xyxy2cs(boxes, 1.25), dim=1)
    with pytest.raises(ValueError, match='more than 1 value per channel'):
        ref.train().forward_train(feats, bbox_cs, grids)
    bn = ours.pose_to_kpts[1]
    before = {k: v.clone() for k, v in bn.state_dict().items()}
    x_logits, _, kpts, sigma = ours.train()(feats, boxes, grids)
    ref_kpts, (ref_px,
               _), ref_sigma = ref.eval().forward_train(feats, bbox_cs, grids)
    # float64, as test_equals_mmpose_dcc
    torch.testing.assert_close(kpts, ref_kpts, rtol=0, atol=1e-9)
    torch.testing.assert_close(
        bin_softmax(x_logits), ref_px, rtol=0, atol=1e-12)
    torch.testing.assert_close(sigma, ref_sigma, rtol=0, atol=1e-12)
    for key, value in bn.state_dict().items():
        assert torch.equal(value, before[key]), key
    (kpts.sum() + sigma.sum()).backward()
    missing = [
        n for n, p in ours.named_parameters()
        if p.grad is None or not p.grad.abs().sum() > 0
    ]
    assert not missing, missing


class _DCCGraph(torch.nn.Module):
    """forward(pose_feats, bboxes, origin) → the DCC's four tensors, for a
    standalone export."""

    def __init__(self, dcc):
        super().__init__()
        self.dcc = dcc

    def forward(self, pose_feats, bboxes, origin):
        return self.dcc(pose_feats, bboxes, origin)


def test_dynamic_mode_exports_to_onnx_opset13(tmp_path):
    """MMDeploy cannot export MMPose's DCC at opset 11; ours (with MMPose's
    GAU) exports at 13."""
    ort = pytest.importorskip('onnxruntime')
    dcc = DynamicCoordinateClassifier(
        24,
        14,
        feat_channels=32,
        num_bins=(48, 64),
        spe_channels=16,
        gau_cfg=GAU).eval()
    feats, boxes, grids = _inputs(5, torch.float32)
    path = str(tmp_path / 'dcc.onnx')
    names = ['x_logits', 'y_logits', 'keypoints', 'sigma']
    torch.onnx.export(
        _DCCGraph(dcc).eval(), (feats, boxes, grids),
        path,
        dynamo=False,
        opset_version=13,
        input_names=['pose_feats', 'bboxes', 'origin'],
        output_names=names,
        dynamic_axes={
            n: {
                0: 'N'
            }
            for n in ['pose_feats', 'bboxes', 'origin', *names]
        })
    feats, boxes, grids = _inputs(7, torch.float32)
    outs = ort.InferenceSession(
        path, providers=['CPUExecutionProvider']).run(
            None,
            dict(
                pose_feats=feats.numpy(),
                bboxes=boxes.numpy(),
                origin=grids.numpy()))
    # (an export restores the wrapper's mode; the wrapper was in eval)
    assert not dcc.training
    with torch.no_grad():
        ref = dcc(feats, boxes, grids)
    for name, o, r in zip(names, outs, ref):
        # keypoints: pixels up to ~700
        diff, tol = np.abs(o - r.numpy()).max(), graph_atol(r.numpy())
        assert diff <= tol, (name, diff, tol,
                             diff / (EPS32 * np.abs(r.numpy()).max()))


def _codes(dcc, boxes, grids):
    """Float32 bin codes the logits are made of: (Bx, C) in static mode, (N,
    Bx, C) in dynamic mode."""
    if dcc.static:
        return dcc.x_fc(dcc.spe(position=dcc.x_static))
    center, scale = boxes_to_center_scale(boxes, dcc.bbox_padding)
    return dcc.x_fc(
        dcc.spe(position=dcc._place_bins(center - grids, scale)[0]))


# bf16 autocast vs float32: the keypoint features reach the float32 code
# product through the bf16 layers
# (Linear: input and weight casts and its output; the GAU: the same for its
# projections and its two
# attention products), ~8 roundings of ≤ EPS_BF16/2 each of the magnitudes
# involved, so the features move by
# ≲ 4·EPS_BF16·max|f_k| and a logit l_kb = f_k·code_b by ≲
# 4·EPS_BF16·max|f_k|·Σ|code_b|. Measured at most
# 0.86 of that unit (5 seeds, both modes, and 0.42 at RTMO-s sizes).
C_BF16 = 4


@pytest.mark.parametrize('static', [False, True], ids=['dynamic', 'static'])
def test_bf16_autocast_keeps_positions_logits_and_decoding_in_float32(static):
    """Under CPU bf16 autocast the keypoint features run in bf16, the logits,
    keypoints and σ come out float32 and finite and train (backward) to finite
    gradients; logits stay within C_BF16 · EPS_BF16 of the magnitudes they are
    made of, and keypoints within what those logit changes allow the softmax
    expectation (``expectation_bound``).

    Were the positions or the decoding in bf16, a 500 px coordinate alone would
    be off by up to 1 px.
    """
    kw = dict(
        in_channels=24,
        num_keypoints=17,
        feat_channels=32,
        spe_channels=16,
        gau_cfg=GAU)
    kw.update(
        dict(num_bins=(96, 128), static_size=(48, 64)) if static else dict(
            num_bins=(48, 64)))
    dcc = DynamicCoordinateClassifier(**kw).train()
    feats, boxes, grids = _inputs(8, torch.float32)
    feats = torch.randn(8, 24)
    with torch.no_grad():
        x32, _, kpts32, sigma32 = dcc(feats, boxes, grids)
        kpt_feats = dcc.keypoint_feats(feats)  # (N, K, C) float32
        codes = _codes(dcc, boxes, grids)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        x16, y16, kpts16, sigma16 = dcc(feats, boxes, grids)
    assert all(t.dtype == torch.float32 and torch.isfinite(t).all()
               for t in (x16, y16, kpts16, sigma16))
    (kpts16.sum() + sigma16.sum()).backward()
    assert all(
        torch.isfinite(p.grad).all() for p in dcc.parameters()
        if p.grad is not None)

    # (N, K, Bx)
    magnitude = kpt_feats.abs().amax(
        -1, keepdim=True) * codes.abs().sum(-1).unsqueeze(-2)
    dev = (x16 - x32).detach()
    assert dev.abs().max() > 0  # the features did run in bf16
    assert (dev.abs() <= C_BF16 * EPS_BF16 *
            magnitude).all(), (dev.abs() / (EPS_BF16 * magnitude)).max()
    x_bins = dcc.bin_coords(boxes)[0]
    bound = expectation_bound(dev, bin_softmax(x32), x_bins, kpts32[..., 0])
    assert ((kpts16[..., 0] - kpts32[..., 0]).abs() <= bound).all()


def _calibrated(**kw):
    cfg = dict(
        in_channels=24,
        num_keypoints=17,
        feat_channels=32,
        num_bins=(48, 64),
        spe_channels=16,
        gau_cfg=None)
    cfg.update(kw)
    return DynamicCoordinateClassifier(**cfg).double()


@pytest.mark.parametrize('static', [False, True], ids=['dynamic', 'static'])
def test_logit_scale_multiplies_the_logits(static):
    """logit_scale='rsqrt' gives exactly 1/√C times the raw logits of the same
    weights; the keypoints are the expectation of the scaled softmax."""
    kw = dict(static_size=(48, 64)) if static else {}
    raw = _calibrated(**kw).eval()
    scaled = _calibrated(logit_scale='rsqrt', **kw).eval()
    scaled.load_state_dict(raw.state_dict())
    feats, boxes, grids = _inputs(5)
    x0, y0, _, s0 = raw(feats, boxes, grids)
    x1, y1, k1, s1 = scaled(feats, boxes, grids)
    c = 1 / np.sqrt(32)
    torch.testing.assert_close(x1, x0 * c, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(y1, y0 * c, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(s1, s0)
    x_bins, y_bins = scaled.bin_coords(boxes)
    expect = (bin_softmax(x0 * c) *
              (x_bins if static else x_bins[:, None])).sum(-1)
    torch.testing.assert_close(k1[..., 0], expect, rtol=1e-9, atol=1e-9)


def test_learned_logit_scale_starts_at_the_scale_and_learns():
    dcc = _calibrated(logit_scale=0.25, learn_logit_scale=True)
    assert dcc.logit_log_scale.item() == pytest.approx(np.log(0.25))
    assert 'logit_log_scale' in dict(dcc.named_parameters())
    feats, boxes, grids = _inputs(4)
    x, y, _, _ = dcc(feats, boxes, grids)
    (x.square().sum() + y.square().sum()).backward()
    assert dcc.logit_log_scale.grad.abs().item() > 0
    # a fixed scale adds no parameter: MMPose's state dicts still load
    assert 'logit_log_scale' not in _calibrated().state_dict()


@pytest.mark.parametrize('bad', [0.0, -1.0, float('nan'), float('inf'), 'x'])
def test_bad_logit_scale_is_a_clear_error(bad):
    with pytest.raises(
            ValueError, match='DynamicCoordinateClassifier.*'
            'logit_scale'):
        _calibrated(logit_scale=bad)


def test_keypoint_input_mode_shares_weights_over_keypoints():
    """input_mode='keypoint': (N, K, C_in) → one ScaleNorm + Linear and one σ
    Linear shared by the keypoints, so a keypoint's outputs depend on its own
    vector only."""
    dcc = _calibrated(input_mode='keypoint', in_channels=12).eval()
    assert dcc.pose_to_kpts[1].weight.shape == (32, 12)
    assert dcc.sigma_fc[0].weight.shape == (1, 12)
    feats = torch.randn(3, 17, 12, dtype=torch.float64)
    boxes = _inputs(3)[1]
    x, _, kpts, sigma = dcc(feats, boxes)
    assert x.shape == (3, 17, 48) and sigma.shape == (3, 17)
    moved = feats.clone()
    moved[:, 5] += 1.0
    x2, _, kpts2, sigma2 = dcc(moved, boxes)
    same = [k for k in range(17) if k != 5]
    torch.testing.assert_close(x2[:, same], x[:, same])
    torch.testing.assert_close(sigma2[:, same], sigma[:, same])
    assert not torch.allclose(x2[:, 5], x[:, 5])
    with pytest.raises(
            ValueError, match=r"input_mode='keypoint'.*\(N, 17, "
            r'12\)'):
        dcc(torch.randn(3, 12, dtype=torch.float64), boxes)
    with pytest.raises(ValueError, match='input_mode'):
        _calibrated(input_mode='tokens')


def test_near_identity_gau_starts_at_its_shortcut():
    """MMPose's GAU start multiplies the features' RMS by about an order of
    magnitude; the near-identity start leaves them almost unchanged."""
    gau = dict(GAU, s=128)
    feats = torch.randn(64, 17, 128, dtype=torch.float64)
    ratios = {}
    for init in ('mmpose', 'near_identity'):
        dcc = _calibrated(
            feat_channels=128,
            gau_cfg=gau,
            gau_init=init,
            input_mode='keypoint',
            in_channels=128).eval()
        with torch.no_grad():
            out = dcc.gau(feats, pos_enc=dcc.pos_enc)
        ratios[init] = (out - feats).square().mean().sqrt().item()
    assert ratios['mmpose'] > 3, ratios  # measured ≈ 13 (RMS 1 → 13.4)
    assert ratios['near_identity'] < 1e-3, ratios
    with pytest.raises(ValueError, match='gau_init'):
        _calibrated(gau_cfg=GAU, gau_init='zeros')
