"""Size and speed of a pose model: parameters, FLOPs (MMEngine's analysis) and
CPU latency of the network.

Latency is the median wall time of ``model(x, None, mode='tensor')`` --
backbone, neck and head ``forward``, the part that exports to ONNX -- on the
CPU with PyTorch's current thread count, after warm-up runs. Decoding and flip
test are not included.
"""
import copy
import statistics
import time
from typing import Dict, Tuple

import torch
from mmengine.analysis import get_model_complexity_info
from mmengine.config import Config


def input_size_of(cfg: Config) -> Tuple[int, int]:
    """(w, h) of the network input: the test pipeline's ``TopdownAffine`` or
    else ``codec.input_size``."""
    for step in cfg.test_dataloader.dataset.pipeline:
        if step.get('type') == 'TopdownAffine':
            return tuple(step['input_size'])
    if 'codec' in cfg and 'input_size' in cfg.codec:
        return tuple(cfg.codec.input_size)
    raise KeyError(
        'cannot find the input size: no TopdownAffine in the test pipeline '
        'and no codec.input_size')


def _cpu_copy(model: torch.nn.Module) -> torch.nn.Module:
    # unwrap MMEngine's / DDP's wrappers
    model = getattr(model, 'module', model)
    return copy.deepcopy(model).cpu().eval()


@torch.no_grad()
def cpu_latency(model: torch.nn.Module,
                input_size: Tuple[int, int],
                batch: int,
                warmup: int = 2,
                repeats: int = 5) -> float:
    """Median milliseconds of one forward pass of a (batch, 3, h, w) input on
    the CPU, after ``min(warmup, repeats)`` untimed passes."""
    net = _cpu_copy(model)
    w, h = input_size
    x = torch.randn(batch, 3, h, w)
    for _ in range(min(warmup, repeats)):
        net(x, None, mode='tensor')
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        net(x, None, mode='tensor')
        times.append(time.perf_counter() - t0)
    return 1000.0 * statistics.median(times)


class _TensorMode(torch.nn.Module):
    """``model(x)`` -> ``model(x, None, mode='tensor')``, the call MMEngine's
    FlopAnalyzer makes."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor):
        return self.model(x, None, mode='tensor')


def complexity(model: torch.nn.Module,
               input_size: Tuple[int, int]) -> Dict[str, float]:
    """Parameters (all, in millions) and GFLOPs of one (1, 3, h, w) forward, by
    MMEngine's FlopAnalyzer."""
    net = _cpu_copy(model)
    w, h = input_size
    info = get_model_complexity_info(
        _TensorMode(net),
        input_shape=(3, h, w),
        show_table=False,
        show_arch=False)
    params = sum(p.numel() for p in net.parameters())
    return dict(params_M=params / 1e6, gflops=info['flops'] / 1e9)
