"""A chain of Linear layers without activations, run as one Linear layer.

Poseur's per-layer σ branch (`Poseur: Direct Human Pose Regression with
Transformers`, Mao et al., ECCV 2022; the official code's ``fc_sigma``) is
``num_reg_fcs`` Linear C → C layers and a Linear C → 2 with no activation in
between: an affine map written as a product. Applied layer by layer it costs
``num_reg_fcs·C² + 2C`` multiply-adds per query; multiplying the weights first
costs ``num_reg_fcs·2·C²`` once per call and ``2C`` per query. With Poseur's
2176 training queries (batch 32, 4 groups) that is 2.2 % of the work, and the
parameters, their names and the function are unchanged (float rounding
aside).
"""
import torch
import torch.nn.functional as F
from torch import Tensor, nn


class LinearChain(nn.Sequential):
    """``nn.Sequential`` of ``nn.Linear`` layers whose forward applies the
    composed affine map (same state dict as the Sequential).

    ``y = W_n(… W_2(W_1 x + b_1) + b_2 …) + b_n = W x + b`` with ``W = W_n ⋯
    W_1`` and ``b = W_n(⋯(W_2 b_1 + b_2)⋯) + b_n``, composed from the last
    layer backwards so every product has the narrow output width on the left.
    The composition runs in float32 (float64 stays float64) with autocast off;
    the product with ``x`` follows autocast.
    """

    def __init__(self, *layers: nn.Linear) -> None:
        if not layers or not all(isinstance(m, nn.Linear) for m in layers):
            raise TypeError('LinearChain takes nn.Linear layers only')
        super().__init__(*layers)

    def composed(self):
        """The chain as one (weight (out, in), bias (out,)) pair."""
        last = self[-1]
        weight = last.weight.float() if last.weight.dtype in (
            torch.float16, torch.bfloat16) else last.weight
        bias = last.bias.to(weight.dtype) if last.bias is not None else None
        with torch.autocast(weight.device.type, enabled=False):
            for layer in reversed(list(self)[:-1]):
                if layer.bias is not None:
                    b = layer.bias.to(weight.dtype) @ weight.t()
                    bias = b if bias is None else bias + b
                weight = weight @ layer.weight.to(weight.dtype)
        return weight, bias

    def forward(self, x: Tensor) -> Tensor:
        """(..., in) → (..., out)."""
        weight, bias = self.composed()
        if not torch.is_autocast_enabled(x.device.type):
            weight = weight.to(x.dtype)
            bias = bias.to(x.dtype) if bias is not None else None
        return F.linear(x, weight, bias)
