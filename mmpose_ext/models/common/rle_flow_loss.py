"""Residual log-likelihood estimation (RLE) loss with a RealNVP flow,
configurable as MMPose's or Poseur's.

`Human Pose Regression with Residual Log-likelihood Estimation` (Li et al.,
ICCV 2021) models the normalised residual ``ē = (pred − gt) / σ`` with a
learned density: a RealNVP flow ``G`` plus a fixed "residual" distribution
``Q``. The negative log-likelihood of the target is

    L = log σ − log G(ē)  [flow term]  +  −log Q(ē)  [residual term, optional]

`Poseur` (Mao et al., ECCV 2022) applies the same loss to its coarse stage and
to every decoder layer, with three differences in its code: σ arrives already
positive (no sigmoid in the loss), the flow prior is N(0.5, I) instead of N(0,
I), and the residual term is ``log(σ√(2π)) + |gt − pred| / (√2·σ)``.
Normalisation differs too: MMPose's ``RLELoss`` divides the summed loss by the
number of instances N, Poseur's ``RLELoss_poseur`` by the number of keypoint
slots N·K' (``normalize='keypoint'``), where K' is the second dimension of the
prediction: K for the coarse stage, G·K for a decoder layer with G query groups
(68 at COCO with 3 noisy groups). Invisible keypoints count in N·K' (their loss
is zero, not dropped).

This module reuses MMPose's :class:`~mmpose.models.utils.realnvp.RealNVP` (6
coupling layers, alternating masks, 2→64→64→2 nets) and, configured as MMPose's
``RLELoss``, computes the same numbers.

Precision: the loss is a float32 island. Under mixed precision (fp16/bf16
    autocast, on any device) the
inputs are cast to float32 and autocast is switched off for the flow and the
residual term, as Poseur's official code does with ``force_fp32``: the flow's
coupling layers are tiny (2→64→64→2) so fp32 costs nothing, while ``log σ``,
``exp(−s)`` and ``ē = (pred − gt)/σ`` for small σ lose most of their digits in
half precision. Non-finite inputs are rejected before the flow with a
:class:`NonFiniteError` that names this loss and the input (otherwise they
surface as an argument-validation error deep inside ``torch.distributions``).
"""
import math
from typing import Optional

import torch
from mmpose.models.utils.realnvp import RealNVP
from mmpose.registry import MODELS
from torch import Tensor, nn

from .finite import check_finite
from .precision import at_least_fp32, fp32_region

_Q_DISTRIBUTIONS = ('laplace', 'gaussian', 'poseur')


@MODELS.register_module()
class RLEFlowLoss(nn.Module):
    """RLE loss with a RealNVP flow; a drop-in superset of MMPose's
    ``RLELoss``.

    Note:
        - instances: N
        - keypoints: K
        - coordinate dimension: D (must be 2: the flow is 2-D)

    Args:
        use_target_weight (bool): Multiply the per-keypoint loss by
            ``target_weight``.
        size_average (bool): Normalise the summed loss (see ``normalize``);
            False returns the sum.
        normalize (str): What ``size_average`` divides by: ``'instance'`` → N
            (MMPose's ``RLELoss``), ``'keypoint'`` → N·K, every keypoint slot
            of the prediction (Poseur's official ``RLELoss_poseur``:
            ``loss.sum() / (B·K')``).
        residual (bool): Add the residual term ``−log Q(ē)`` (RLE's "residual"
            design).
        q_distribution (str): ``Q``: ``'laplace'`` → ``log(2σ) + |ē|``;
            ``'gaussian'`` → ``log(σ√(2π)) + ē²/2`` (both as MMPose);
            ``'poseur'`` → ``log(σ√(2π)) + |gt − pred|/(√2σ)`` (Poseur's code).
        sigma_activation (str | None): ``'sigmoid'`` when σ arrives as logits
            (MMPose's ``RLEHead``), ``None`` when it is already positive
            (Poseur's heads).
        prior_mean (float): Mean of the flow's prior N(μ·1, I): 0.0 in MMPose,
            0.5 in Poseur.
        loss_weight (float): Multiplier on the returned loss.
        eps (float): Guards the division by σ and the log of σ.
    """

    def __init__(self,
                 use_target_weight: bool = False,
                 size_average: bool = True,
                 normalize: str = 'instance',
                 residual: bool = True,
                 q_distribution: str = 'laplace',
                 sigma_activation: Optional[str] = 'sigmoid',
                 prior_mean: float = 0.0,
                 loss_weight: float = 1.0,
                 eps: float = 1e-9) -> None:
        super().__init__()
        if q_distribution not in _Q_DISTRIBUTIONS:
            raise ValueError('RLEFlowLoss: q_distribution must be one of '
                             f'{_Q_DISTRIBUTIONS}, '
                             f'got {q_distribution!r}')
        if normalize not in ('instance', 'keypoint'):
            raise ValueError(
                "RLEFlowLoss: normalize must be 'instance' or 'keypoint', "
                f'got {normalize!r}')
        if sigma_activation not in ('sigmoid', None):
            raise ValueError(
                "RLEFlowLoss: sigma_activation must be 'sigmoid' or None, "
                f'got {sigma_activation!r}')
        self.use_target_weight = use_target_weight
        self.size_average = size_average
        self.normalize = normalize
        self.residual = residual
        self.q_distribution = q_distribution
        self.sigma_activation = sigma_activation
        self.loss_weight = loss_weight
        self.eps = eps
        self.flow_model = RealNVP()
        # RealNVP's prior is N(loc, cov) with `loc` a buffer: setting it is all
        # a new prior mean needs.
        self.flow_model.loc.fill_(prior_mean)

    def _check_shapes(self, pred: Tensor, sigma: Tensor,
                      target: Tensor) -> None:
        if pred.dim() != 3 or pred.shape[-1] != 2:
            raise ValueError(
                'RLEFlowLoss expects pred of shape (N, K, 2), got '
                f'{tuple(pred.shape)}')
        if sigma.shape != pred.shape or target.shape != pred.shape:
            raise ValueError(
                'RLEFlowLoss: pred, sigma and target must have the same '
                'shape (N, K, 2); got '
                f'pred {tuple(pred.shape)}, sigma {tuple(sigma.shape)}, '
                f'target {tuple(target.shape)}. '
                'A different K usually means the head\'s num_joints does '
                'not match the dataset '
                'metainfo.')

    def log_prob(self, error: Tensor) -> Tensor:
        """Flow log-density ``log G(ē)`` in (at least) float32 with autocast
        off: the same value inside and outside autocast.

        Args:
            error (Tensor): (M, 2) normalised residuals ē.

        Returns:
            Tensor: (M,), float32 (float64 for float64 input and flow).
        """
        with fp32_region(error.device):
            return self.flow_model.log_prob(at_least_fp32(error))

    def forward(self,
                pred: Tensor,
                sigma: Tensor,
                target: Tensor,
                target_weight: Optional[Tensor] = None) -> Tensor:
        """Compute the loss (in float32, whatever the input dtype and autocast
        state).

        Args:
            pred (Tensor): Predicted coordinates, (N, K, 2).
            sigma (Tensor): Predicted scales, (N, K, 2): logits if
                ``sigma_activation='sigmoid'``, else positive values.
            target (Tensor): Target coordinates, (N, K, 2).
            target_weight (Tensor, optional): Per-keypoint weights, (N, K), (N,
                K, 1) or (N, K, 2).

        Returns:
            Tensor: Scalar loss, float32 for fp16/bf16/fp32 inputs.

        Raises:
            NonFiniteError: if ``pred``, ``sigma``, ``target`` or
                ``target_weight`` holds NaN or Inf.
        """
        self._check_shapes(pred, sigma, target)
        inputs = dict(pred=pred, sigma=sigma, target=target)
        if target_weight is not None:
            inputs['target_weight'] = target_weight
        check_finite(
            inputs,
            type(self).__name__,
            what='input',
            hint=('A non-finite pred or sigma comes from the head (diverged '
                  'weights: learning rate, fp16 '
                  'overflow) or from the features and images reaching it; a '
                  'non-finite target or '
                  'target_weight from the annotations or the codec.'))
        with fp32_region(pred.device):
            return self._loss(
                at_least_fp32(pred), at_least_fp32(sigma),
                at_least_fp32(target), None
                if target_weight is None else at_least_fp32(target_weight))

    def forward_stacked(self,
                        pred: Tensor,
                        sigma: Tensor,
                        target: Tensor,
                        target_weight: Optional[Tensor] = None) -> Tensor:
        """The losses of D predictions of the same targets (e.g. one per
        decoder layer) with ONE flow call.

        ``forward_stacked(pred, sigma, target, w)[d]`` is
        ``forward(pred[:, d], sigma[:, d], target, w)`` (the same terms, summed
        in a different order: equal up to float rounding), but the normalised
        residuals of all D predictions go through the RealNVP together, so its
        ~100 small operations run once instead of D times.

        Args:
            pred (Tensor): (N, D, K, 2).
            sigma (Tensor): (N, D, K, 2), as in :meth:`forward`.
            target (Tensor): (N, K, 2), shared by the D predictions.
            target_weight (Tensor, optional): (N, K), (N, K, 1) or (N, K, 2).

        Returns:
            Tensor: (D,) losses, float32 for fp16/bf16/fp32 inputs.
        """
        if pred.dim() != 4:
            raise ValueError(
                'RLEFlowLoss.forward_stacked expects pred of shape (N, D, '
                'K, 2), got '
                f'{tuple(pred.shape)}')
        N, D, K, _ = pred.shape
        self._check_shapes(pred[:, 0], sigma[:, 0], target)
        if sigma.shape != pred.shape:
            raise ValueError(
                f'RLEFlowLoss: sigma {tuple(sigma.shape)} must have pred\'s '
                'shape '
                f'{tuple(pred.shape)}')
        inputs = dict(pred=pred, sigma=sigma, target=target)
        if target_weight is not None:
            inputs['target_weight'] = target_weight
        check_finite(
            inputs,
            type(self).__name__,
            what='input',
            hint=('A non-finite pred or sigma comes from the head (diverged '
                  'weights: learning rate, fp16 '
                  'overflow) or from the features and images reaching it; a '
                  'non-finite target or '
                  'target_weight from the annotations or the codec.'))
        if N == 0:  # no instances: zeros that keep the graph
            return at_least_fp32(pred).sum((0, 2, 3)) * 0.0
        with fp32_region(pred.device):
            # layer-major (D, N, K, 2), contiguous: layer d's terms lie, and
            # are summed, in the order of forward(pred[:, d], ...), and the
            # flow sees its rows in the same order
            pred, sigma = (
                at_least_fp32(t).transpose(0, 1).contiguous()
                for t in (pred, sigma))
            if target_weight is not None:
                target_weight = at_least_fp32(target_weight)
                target_weight = target_weight.unsqueeze(
                    -1) if target_weight.dim() == 2 else target_weight
            # (D, N, K, 2)
            loss = self._terms(pred, sigma, at_least_fp32(target),
                               target_weight)
            if self.size_average:
                loss = loss / (N * K if self.normalize == 'keypoint' else N)
            return loss.reshape(D, -1).sum(1) * self.loss_weight

    def _terms(self, pred: Tensor, sigma: Tensor, target: Tensor,
               target_weight: Optional[Tensor]) -> Tensor:
        """The weighted per-coordinate loss terms (before normalisation and
        sum), any leading shape."""
        if self.sigma_activation == 'sigmoid':
            sigma = sigma.sigmoid()
        sigma = sigma.clamp(min=self.eps)
        error = (pred - target) / (sigma + self.eps)  # ē, (..., 2)
        # (..., 1)
        log_phi = self.log_prob(error.reshape(-1,
                                              2)).reshape(error.shape[:-1] +
                                                          (1, ))
        loss = torch.log(sigma) - log_phi  # flow term, (..., 2)
        if self.residual:
            if self.q_distribution == 'laplace':
                loss = loss + torch.log(sigma * 2) + torch.abs(error)
            elif self.q_distribution == 'gaussian':
                loss = loss + torch.log(
                    sigma * math.sqrt(2 * math.pi)) + 0.5 * error**2
            else:  # 'poseur'
                loss = (
                    loss + torch.log(sigma * math.sqrt(2 * math.pi)) +
                    torch.abs(target - pred) /
                    (math.sqrt(2) * sigma + self.eps))
        if self.use_target_weight:
            if target_weight is None:
                raise ValueError('RLEFlowLoss: use_target_weight=True but no '
                                 'target_weight was given')
            loss = loss * target_weight
        return loss

    def _loss(self, pred: Tensor, sigma: Tensor, target: Tensor,
              target_weight: Optional[Tensor]) -> Tensor:
        """:meth:`forward` on (at least) float32 inputs, autocast off."""
        N, K, _ = pred.shape
        if N == 0:  # no instances: a zero that keeps the graph
            return pred.sum() * 0.0
        if target_weight is not None and target_weight.dim() == 2:
            target_weight = target_weight.unsqueeze(-1)  # (N, K, 1)
        loss = self._terms(pred, sigma, target, target_weight)  # (N, K, 2)
        if self.size_average:
            loss = loss / (N * K if self.normalize == 'keypoint' else N)
        return loss.sum() * self.loss_weight
