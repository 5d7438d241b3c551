"""TokenPoseStem equals MMPose's HRNet stem + layer1 (same parameter names,
same numbers)."""
import torch
from mmpose.registry import MODELS


def _small_hrnet():
    """HRNet whose stem/layer1 are the standard ones (64 → 4 bottlenecks →
    256); later stages tiny."""
    extra = dict(
        stage1=dict(
            num_modules=1,
            num_branches=1,
            block='BOTTLENECK',
            num_blocks=(4, ),
            num_channels=(64, )),
        stage2=dict(
            num_modules=1,
            num_branches=2,
            block='BASIC',
            num_blocks=(1, 1),
            num_channels=(4, 8)),
        stage3=dict(
            num_modules=1,
            num_branches=3,
            block='BASIC',
            num_blocks=(1, 1, 1),
            num_channels=(4, 8, 16)),
        stage4=dict(
            num_modules=1,
            num_branches=4,
            block='BASIC',
            num_blocks=(1, 1, 1, 1),
            num_channels=(4, 8, 16, 32)))
    return MODELS.build(dict(type='HRNet', extra=extra))


def test_stem_equals_hrnet_stem_and_layer1():
    hrnet = _small_hrnet()
    # non-trivial BN statistics and affine parameters
    for m in hrnet.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            torch.nn.init.uniform_(m.weight, 0.5, 1.5)
            torch.nn.init.uniform_(m.bias, -0.2, 0.2)
    hrnet.eval()
    stem = MODELS.build(dict(type='TokenPoseStem')).eval()
    prefixes = ('conv1.', 'bn1.', 'conv2.', 'bn2.', 'layer1.')
    state = {
        k: v
        for k, v in hrnet.state_dict().items() if k.startswith(prefixes)
    }
    # every stem parameter has HRNet's name
    stem.load_state_dict(state, strict=True)

    captured = {}
    hrnet.layer1.register_forward_hook(
        lambda mod, inp, out: captured.update(out=out))
    # HRNet's 1/32 branch needs sides divisible by 32
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        hrnet(x)
        out = stem(x)
    assert isinstance(out, tuple) and out[0].shape == (2, 256, 16, 16)
    assert torch.allclose(out[0], captured['out'], atol=1e-5)


def test_stem_parameter_count_and_official_init():
    stem = MODELS.build(dict(type='TokenPoseStem'))
    stem.init_weights()
    # conv1 3·64·9 + conv2 64·64·9 + BN + 4 bottlenecks (64→256) = 0.325 M
    assert sum(p.numel() for p in stem.parameters()) == 325056
    assert abs(float(stem.conv2.weight.std()) - 0.001) < 2e-4
