"""Parameters and FLOPs against independent counts; latency is a positive
number of milliseconds."""
import math
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpose.registry import MODELS

from mmpose_ext.benchmark import complexity, cpu_latency, input_size_of

# torchvision's ResNet-18 at 224x224: 1.814 GFLOPs (multiply-accumulates, the
# convention of MMEngine's FlopAnalyzer) -- convolutions scale with the pixel
# count.
RESNET18_GMACS_224 = 1.814


def test_complexity_and_latency():
    import mmpose
    cfg = Config.fromfile(
        str(
            Path(mmpose.__file__).parent /
            '.mim/configs/body_2d_keypoint/topdown_regression/coco/'
            # MMPose's RLE, on ResNet-18
            'td-reg_res50_rle-8xb64-210e_coco-256x192.py'))
    cfg.model.backbone.update(depth=18, init_cfg=None)
    cfg.model.head.in_channels = 512
    # the data preprocessor is built from MMEngine's registry
    init_default_scope('mmpose')
    model = MODELS.build(cfg.model)
    size = input_size_of(cfg)
    assert size == (192, 256)
    out = complexity(model, size)
    assert out['params_M'] * 1e6 == sum(p.numel() for p in model.parameters())
    # ResNet-18 (minus its 1000-way classifier, 0.5 M MACs) at 256x192, plus
    # the RLE head's 512 -> 17*4 linear layer; the flow prior is used only by
    # the loss.
    expected = (RESNET18_GMACS_224 -
                0.000512) * 256 * 192 / 224**2 + 512 * 17 * 4 / 1e9
    assert out['gflops'] == pytest.approx(expected, rel=0.01)
    ms = cpu_latency(model, size, batch=2, warmup=1, repeats=1)
    assert math.isfinite(ms) and ms > 0
