"""Laplace-integral keypoint score, as used by Poseur.

`Poseur: Direct Human Pose Regression with Transformers` (Mao et al., ECCV
2022) scores a regressed keypoint by the probability mass its predicted Laplace
distribution puts within ``±radius`` of the predicted mean, per axis, and
multiplies the axes:

    p_axis = ∫_{-a}^{a} Laplace(x; 0, σ) dx = 1 − exp(−a / σ),
    score = weight · p_x · p_y

σ and ``radius`` are in the same (normalised) units. Poseur's code uses
``radius = 0.2`` and weight 0.7 for reporting; RLE's own score ``1 − mean(σ)``
is what MMPose's ``RegressionLabel`` returns.

The score is computed in float32 with autocast off: in half precision
``1 − exp(−a/σ)`` keeps only 2-3 significant digits (bf16 cannot tell σ = 0.500
from 0.501), and Poseur's flip fusion raises it to the fifth power.
"""
import torch
from mmpose.registry import MODELS
from torch import Tensor, nn

from .precision import at_least_fp32, fp32_region


@MODELS.register_module()
class LaplaceIntegralScorer(nn.Module):
    """Keypoint confidence from a predicted Laplace scale σ.

    Note:
        - instances: N
        - keypoints: K
        - axes: D (usually 2)

    Args:
        radius (float): Half-width ``a`` of the interval whose Laplace mass is
            measured, in the units of σ (normalised input-image units for
            RLE/Poseur). Must be > 0.
        weight (float): Multiplier on the product of the per-axis masses.
            Defaults to 1.0.
        eps (float): Lower clamp on σ so that σ = 0 gives a score of ``weight``
            instead of NaN.
    """

    def __init__(self,
                 radius: float = 0.2,
                 weight: float = 1.0,
                 eps: float = 1e-12) -> None:
        super().__init__()
        if radius <= 0:
            raise ValueError(
                f'LaplaceIntegralScorer: radius must be > 0, got {radius}')
        self.radius = float(radius)
        self.weight = float(weight)
        self.eps = float(eps)

    def forward(self, sigma: Tensor) -> Tensor:
        """Score keypoints.

        Args:
            sigma (Tensor): Laplace scales, shape (..., D), already positive
                (e.g. after sigmoid).

        Returns:
            Tensor: Scores of shape (...), in ``[0, weight]``; float32 for
                fp16/bf16/fp32 input.
        """
        with fp32_region(sigma.device):
            sigma = at_least_fp32(sigma).clamp(min=self.eps)
            mass = 1.0 - torch.exp(-self.radius / sigma)  # (..., D)
            return self.weight * mass.prod(dim=-1)

    def extra_repr(self) -> str:
        return f'radius={self.radius}, weight={self.weight}'
