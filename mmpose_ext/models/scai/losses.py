"""SCAI's heatmap losses (Kan et al., CVPR 2023).

Φ and Γ are trained to regress target heatmaps; C is trained with

    L_C = a·L⁰ + b·L¹ + λ·(L¹ − L²),
    L⁰ = ‖H̃_D − H_D*‖,
    L¹ = ‖Γ(H_B, H_C, H̃_D) − H_A*‖,
    L² = ‖Γ(H_B, H_C, Ĥ_D) − H_A*‖,

with the corrected H̃_D = Ĥ_D + C(Ĥ_D, e_s) and the uncorrected Φ output Ĥ_D
(paper: a=0.85, b=0.65, λ=0.45). The paper writes ‖·‖ without saying which
norm; ``norm='mse'`` (default) is the mean squared difference over the h·w
pixels of a map (MMPose's ``KeypointMSELoss`` up to the weights), ``norm='l2'``
its Euclidean norm. Per-map errors are weighted by the visibility of the node
they regress and averaged over all B·M maps (as ``KeypointMSELoss`` averages
over B·K).
"""
from typing import Dict, Optional

import torch
from mmpose.registry import MODELS
from torch import Tensor, nn

NORMS = ('mse', 'l2')


def heatmap_error(pred: Tensor, target: Tensor, norm: str = 'mse') -> Tensor:
    """Per-map error between heatmaps.

    Args:
        pred (Tensor): (B, M, h, w)
        target (Tensor): (B, M, h, w)
        norm (str): ``'mse'`` → mean of squared differences; ``'l2'`` →
            Euclidean norm of the difference.

    Returns:
        Tensor: (B, M), float32 at least: the difference is taken in float32
            (under bf16 autocast a bf16 error
        would round away the small differences that training and the
        adaptation's comparisons rely on).
    """
    if pred.shape != target.shape:
        raise ValueError(
            f'heatmap_error: shapes differ, {tuple(pred.shape)} vs '
            f'{tuple(target.shape)}')
    dtype = torch.promote_types(
        torch.promote_types(pred.dtype, target.dtype), torch.float32)
    diff = (pred.to(dtype) - target.to(dtype)).flatten(2)  # (B, M, h*w)
    if norm == 'mse':
        return diff.pow(2).mean(-1)
    if norm == 'l2':
        # sqrt(Σd² + ε²): the Euclidean norm, with a finite gradient where the
        # maps coincide
        return (diff.pow(2).sum(-1) + 1e-12).sqrt()
    raise ValueError(
        f'heatmap_error: norm must be one of {NORMS}, got {norm!r}')


def weighted_mean(errors: Tensor, weights: Optional[Tensor]) -> Tensor:
    """Mean over all maps of ``errors · weights``.

    Args:
        errors (Tensor): (B, M)
        weights (Tensor, optional): (B, M) visibility weights; None = all ones.
    """
    if weights is not None:
        errors = errors * weights
    if errors.numel() == 0:
        raise ValueError(
            'SCAI loss: no heatmaps in the batch (no instances or no chains)')
    return errors.mean()


@MODELS.register_module()
class SCAIHeatmapLoss(nn.Module):
    """Weighted heatmap regression loss for Φ (target H_D*) and Γ (target
    H_A*).

    Args:
        norm (str): ``'mse'`` or ``'l2'`` (see :func:`heatmap_error`).
        loss_weight (float): Multiplier on the loss.
    """

    def __init__(self, norm: str = 'mse', loss_weight: float = 1.0) -> None:
        super().__init__()
        if norm not in NORMS:
            raise ValueError(
                f'SCAIHeatmapLoss: norm must be one of {NORMS}, got {norm!r}')
        self.norm = norm
        self.loss_weight = loss_weight

    def forward(self,
                pred: Tensor,
                target: Tensor,
                weights: Optional[Tensor] = None) -> Tensor:
        """
        Args:
            pred (Tensor): (B, M, h, w)
            target (Tensor): (B, M, h, w)
            weights (Tensor, optional): (B, M)
        """
        return self.loss_weight * weighted_mean(
            heatmap_error(pred, target, self.norm), weights)


@MODELS.register_module()
class SCAICorrectionLoss(nn.Module):
    """``L_C = a·L⁰ + b·L¹ + λ·(L¹ − L²)`` for the correction network C.

    L² does not depend on C (Φ and Γ are frozen while C trains), so
    ``λ·(L¹ − L²)`` moves C exactly as ``λ·L¹`` does; its value says how much
    the correction improved the feedback (negative = better).

    Args:
        a (float): Weight of L⁰ (corrected heatmap vs ground truth). Paper:
            0.85.
        b (float): Weight of L¹ (feedback of the corrected heatmap vs the
            root's ground truth). Paper: 0.65.
        lam (float): λ, weight of L¹ − L². Paper: 0.45.
        norm (str): ``'mse'`` or ``'l2'`` (see :func:`heatmap_error`).
    """

    def __init__(self,
                 a: float = 0.85,
                 b: float = 0.65,
                 lam: float = 0.45,
                 norm: str = 'mse') -> None:
        super().__init__()
        if norm not in NORMS:
            raise ValueError(
                f'SCAICorrectionLoss: norm must be one of {NORMS}, got '
                f'{norm!r}')
        self.a, self.b, self.lam, self.norm = a, b, lam, norm

    def forward(self,
                corrected: Tensor,
                distal_target: Tensor,
                feedback_corrected: Tensor,
                feedback_uncorrected: Tensor,
                root_target: Tensor,
                distal_weights: Optional[Tensor] = None,
                root_weights: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """
        Args:
            corrected (Tensor): H̃_D, (B, M, h, w)
            distal_target (Tensor): H_D*, (B, M, h, w)
            feedback_corrected (Tensor): Γ(H_B, H_C, H̃_D), (B, M, h, w)
            feedback_uncorrected (Tensor): Γ(H_B, H_C, Ĥ_D), (B, M, h, w)
            root_target (Tensor): H_A*, (B, M, h, w)
            distal_weights (Tensor, optional): visibility of D, (B, M)
            root_weights (Tensor, optional): visibility of A, (B, M)

        Returns:
            dict: ``loss_l0`` = a·L⁰, ``loss_l1`` = b·L¹, ``loss_consistency``
                = λ·(L¹ − L²), whose sum is
            L_C (MMEngine sums every ``loss*`` entry).
        """
        l0 = weighted_mean(
            heatmap_error(corrected, distal_target, self.norm), distal_weights)
        l1 = weighted_mean(
            heatmap_error(feedback_corrected, root_target, self.norm),
            root_weights)
        l2 = weighted_mean(
            heatmap_error(feedback_uncorrected, root_target, self.norm),
            root_weights)
        return dict(
            loss_l0=self.a * l0,
            loss_l1=self.b * l1,
            loss_consistency=self.lam * (l1 - l2))
