"""Tolerances of the coordinate-classification tests, each derived from a
magnitude and a unit roundoff, so that they hold whichever kernels (ATen's
AVX-512/AVX2/default, MKL's, oneDNN's, onnxruntime's) a machine picks.

``EPS32``/``EPS_BF16`` are ``torch.finfo(dtype).eps`` (the spacing at 1); one
rounding moves a value by at most half of it, relatively.
"""
import numpy as np
import torch
from torch import Tensor

EPS32 = torch.finfo(torch.float32).eps  # 2**-23
EPS_BF16 = torch.finfo(torch.bfloat16).eps  # 2**-7

# ORT vs PyTorch, float32, per output: |Δ| ≤ C_GRAPH · EPS32 · scale (scale:
# max |output|, or 1 for
# probabilities). Two float32 evaluations of one graph that sum in different
# orders. Measured on the three
# test graphs (top-down SineCC, tiny RTMO, DCC alone) under ATen
# AVX-512/AVX2/default kernels,
# MKL_ENABLE_INSTRUCTIONS=AVX2, MKL_CBWR=COMPATIBLE, DNNL_MAX_CPU_ISA=AVX2, 1
# and 2 threads: ORT − PyTorch
# ≤ 14.6 (the top-down model's normalised keypoints), and each runtime within
# 16 of float64 except the DCC's
# logits (45, from rounding the bin positions, which both runtimes do alike).
# 32 > 2 × 14.6, and covers two
# errors of 16 in opposite directions.
C_GRAPH = 32


def graph_atol(ref: np.ndarray, probability: bool = False) -> float:
    """ORT-vs-PyTorch tolerance of one float32 output (see ``C_GRAPH``)."""
    scale = 1.0 if probability else float(np.abs(ref).max(initial=0.0))
    return C_GRAPH * EPS32 * max(scale, 1e-30)


def sum_atol(n: int, magnitude: float, eps: float = EPS32) -> float:
    """Worst-case rounding of a sum of ``n`` terms of total magnitude
    ``magnitude`` (Σ|term|) in any order:

    γ_n · magnitude, γ_n = n·u / (1 − n·u), u = eps/2 (Higham, Accuracy and
    Stability, §4.2).
    """
    u = eps / 2
    return n * u / (1 - n * u) * magnitude


def mad(probs: Tensor, bins: Tensor, kpts: Tensor) -> Tensor:
    """Mean absolute deviation Σ_b p_b |c_b − x| of the bin distributions:

    probs (N, K, B), bins (N, B) or (B,), kpts x (N, K) → (N, K).
    """
    bins = bins.unsqueeze(1) if bins.dim() == 2 else bins
    return (probs * (bins - kpts.unsqueeze(-1)).abs()).sum(-1)


def expectation_bound(logit_dev: Tensor,
                      probs: Tensor,
                      bins: Tensor,
                      kpts: Tensor,
                      eps: float = EPS32) -> Tensor:
    """How far the softmax expectation x = Σ_b p_b c_b can move when every
    logit of a row moves by at most Δ = max_b |logit_dev| (N, K, B): each p_b
    by a factor within [e^−2Δ, e^2Δ], so |x' − x| ≤ Σ_b |p'_b − p_b| |c_b − x|
    ≤ (e^2Δ − 1) · MAD (exact, not first order), plus the decoding's own
    float32 rounding, two sums of B positive terms (numerator and denominator):
    2 γ_B · max |c|.

    ``probs`` (N, K, B), ``bins`` (N, B) or (B,), ``kpts`` (N, K) are the
    reference's; returns (N, K)."""
    delta = logit_dev.abs().amax(-1)  # (N, K)
    num_bins = probs.size(-1)
    decode = 2 * sum_atol(num_bins, float(bins.abs().max()), eps)
    return torch.expm1(2 * delta) * mad(probs, bins, kpts) + decode
