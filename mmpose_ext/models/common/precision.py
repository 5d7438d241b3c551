"""Float32 islands under mixed precision: the two helpers every module of ours
uses for the parts where half precision loses the digits that matter (sampling
locations, flows and losses, scores, bin positions)."""
import contextlib

import torch
from torch import Tensor


def at_least_fp32(t: Tensor) -> Tensor:
    """float16/bfloat16 → float32; float32/float64 (and non-floating tensors)
    unchanged."""
    return t.float() if t.is_floating_point() and t.element_size() < 4 else t


def fp32_region(device: torch.device):
    """A context with autocast off on ``device`` (a no-op context where
    autocast does not exist)."""
    if device.type in ('cpu', 'cuda', 'xpu', 'mps', 'hpu', 'npu', 'mlu',
                       'musa'):
        return torch.autocast(device.type, enabled=False)
    return contextlib.nullcontext()
