"""Parameters and FLOPs against independent counts; latency is a positive number of milliseconds."""
import math

import pytest
from mmengine.config import Config

from mmpose.registry import MODELS
from mmpose_ext.benchmark import complexity, cpu_latency, input_size_of

# torchvision's ResNet-18 at 224x224: 1.814 GFLOPs (multiply-accumulates, the convention of MMEngine's
# FlopAnalyzer) -- convolutions scale with the pixel count.
RESNET18_GMACS_224 = 1.814


def test_complexity_and_latency(repo_root):
    cfg = Config.fromfile(str(repo_root / 'configs/synthetic/td-reg_res18_rle-1xb32-30e_synthetic-128x96.py'))
    model = MODELS.build(cfg.model)
    size = input_size_of(cfg)
    assert size == (96, 128)
    out = complexity(model, size)
    assert out['params_M'] * 1e6 == sum(p.numel() for p in model.parameters())
    # ResNet-18 (minus its 1000-way classifier, 0.5 M MACs) at 128x96, plus the RLE head's
    # 512 -> 17*4 linear layer; the flow prior is used only by the loss.
    expected = (RESNET18_GMACS_224 - 0.000512) * 128 * 96 / 224 ** 2 + 512 * 17 * 4 / 1e9
    assert out['gflops'] == pytest.approx(expected, rel=0.01)
    ms = cpu_latency(model, size, batch=2, warmup=1, repeats=1)
    assert math.isfinite(ms) and ms > 0
