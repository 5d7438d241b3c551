"""Laplace maximum-likelihood loss for coordinate classification (RTMO's MLE
loss), as one module.

`RTMO` (Lu et al., CVPR 2024) trains the dynamic coordinate classifier by the
likelihood of the annotated keypoint under the predicted 1-D bin distributions,
smoothed by a Laplace kernel whose scale σ is learned per keypoint and whose
errors are normalised by the instance size √area. Per axis,

    h_b = exp(−|t − c_b| / (√area · σ) / 2) / σ,
    P = (Σ_b p_x,b · h_x,b) · (Σ_b p_y,b · h_y,b),

and the loss is ``−log(P + 1e-4)`` weighted by visibility and averaged over
instances and keypoints. It may be negative (P > 1 when σ is small): that is
expected.

MMPose splits this over ``RTMOHead``/``DCC.generate_target_heatmap`` and
``MLECCLoss``; here it takes the logits, bin coordinates, σ, targets, weights
and areas directly, so any coordinate-classification head can use it. NaN
safety: σ ≥ ``sigma_min``, √area ≥ 1 (as MMPose), zero-weight keypoints never
touch the graph with their targets (which may be NaN/inf), non-finite
predictions raise (:class:`~mmpose_ext.models.common.NonFiniteError`) instead
of being zeroed silently (MMPose sets NaN losses to 0, which still leaves NaN
gradients). Under autocast it computes in float32 (softmax, exp, log).
"""
from typing import Optional

import torch
from mmpose.registry import MODELS
from torch import Tensor, nn

from ..common.finite import check_finite
from ..common.precision import at_least_fp32, fp32_region
from .dcc import bin_softmax


@MODELS.register_module()
class CoordMLELoss(nn.Module):
    """Laplace negative log-likelihood of keypoints under 1-D coordinate-
    classification distributions.

    Note:
        - instances: N
        - keypoints: K
        - bins: Bx, By

    Args:
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        eps (float): Added to P inside the log (MMPose: 1e-4).
        sigma_min (float): Lower clamp on σ (MMPose: 1e-3).
        area_min (float): Lower clamp on √area (MMPose: 1).
    """

    def __init__(self,
                 loss_weight: float = 1.0,
                 eps: float = 1e-4,
                 sigma_min: float = 1e-3,
                 area_min: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = float(loss_weight)
        self.eps = float(eps)
        self.sigma_min = float(sigma_min)
        self.area_min = float(area_min)

    @staticmethod
    def _axis_likelihood(prob: Tensor, bins: Tensor, target: Tensor,
                         scale: Tensor, sigma: Tensor) -> Tensor:
        """Σ_b p_b · exp(−|t − c_b| / scale / 2) / σ for one axis.

        prob (N, K, B), bins (N, B) or (B,), target (N, K), scale = √area·σ (N,
        K), sigma (N, K) → (N, K).
        """
        # (N, 1, B) or (B,)
        bins = bins.unsqueeze(1) if bins.dim() == 2 else bins
        # (N, K, B)
        dist = (target.unsqueeze(-1) - bins).abs() / scale.unsqueeze(-1)
        kernel = torch.exp(-0.5 * dist) / sigma.unsqueeze(-1)  # (N, K, B)
        return (prob * kernel).sum(-1)

    def forward(self,
                x_logits: Tensor,
                y_logits: Tensor,
                x_bins: Tensor,
                y_bins: Tensor,
                sigma: Tensor,
                targets: Tensor,
                weights: Optional[Tensor] = None,
                areas: Optional[Tensor] = None) -> Tensor:
        """Compute the loss.

        Args:
            x_logits (Tensor): (N, K, Bx) logits over the x bins.
            y_logits (Tensor): (N, K, By) logits over the y bins.
            x_bins (Tensor): (N, Bx) or (Bx,) bin coordinates, same frame as
                ``targets``.
            y_bins (Tensor): (N, By) or (By,).
            sigma (Tensor): (N, K) predicted Laplace σ (in units of √area).
            targets (Tensor): (N, K, 2) annotated keypoints.
            weights (Tensor, optional): (N, K) visibility / target weights;
                ``None``: all ones.
            areas (Tensor, optional): (N,) instance areas; ``None``: 1
                (unnormalised errors).

        Returns:
            Tensor: scalar loss (0 with a graph when N = 0 or every weight is
                0), at least float32.

        Raises:
            NonFiniteError: if the logits or σ hold NaN or Inf.
        """
        N, K, _ = x_logits.shape
        if y_logits.shape[:2] != (N, K) or sigma.shape != (
                N, K) or targets.shape != (N, K, 2):
            raise ValueError(
                'CoordMLELoss: shapes disagree: x_logits (N, K, Bx)='
                f'{tuple(x_logits.shape)}, y_logits '
                f'{tuple(y_logits.shape)}, sigma '
                f'{tuple(sigma.shape)}, targets {tuple(targets.shape)}')
        if weights is None:
            weights = targets.new_ones(N, K)
        weights = weights.reshape(N, K)
        if N == 0:
            return at_least_fp32(x_logits).sum() * 0.0
        check_finite(
            dict(x_logits=x_logits, y_logits=y_logits, sigma=sigma),
            type(self).__name__,
            what='input',
            hint='They come from the head: diverged weights or non-finite '
            'features reaching it.')
        with fp32_region(x_logits.device):
            return self._loss(*(None if t is None else at_least_fp32(t)
                                for t in (x_logits, y_logits, x_bins, y_bins,
                                          sigma, targets, weights, areas)))

    def _loss(self, x_logits: Tensor, y_logits: Tensor, x_bins: Tensor,
              y_bins: Tensor, sigma: Tensor, targets: Tensor, weights: Tensor,
              areas: Optional[Tensor]) -> Tensor:
        """:meth:`forward` on (at least) float32 inputs with autocast off.

        N > 0, finite logits and σ.
        """
        N = x_logits.size(0)
        weights = weights.to(x_logits.dtype)  # (N, K)
        valid = weights > 0  # (N, K)
        # zero-weight keypoints may carry any target (NaN, inf): replace before
        # they enter the graph
        targets = torch.where(
            valid.unsqueeze(-1), targets, torch.zeros_like(targets))
        if areas is None:
            root_area = targets.new_ones(N, 1)
        else:
            root_area = areas.reshape(N, 1).to(targets.dtype).clamp(
                min=0).sqrt().clamp(min=self.area_min)
        sigma = sigma.clamp(min=self.sigma_min)  # (N, K)
        scale = root_area * sigma  # (N, K)

        prob = (
            self._axis_likelihood(
                bin_softmax(x_logits), x_bins, targets[..., 0], scale, sigma) *
            # (N, K)
            self._axis_likelihood(
                bin_softmax(y_logits), y_bins, targets[..., 1], scale, sigma))
        nll = -torch.log(prob + self.eps)  # (N, K)
        loss = (nll * weights).mean()
        return loss * self.loss_weight

    def extra_repr(self) -> str:
        return (f'loss_weight={self.loss_weight}, eps={self.eps}, '
                f'sigma_min={self.sigma_min}')
