"""Poseur's noisy reference points: extra query groups around the coarse
keypoints (training only).

`Poseur: Direct Human Pose Regression with Transformers` (Mao et al., ECCV
2022), Sec. 3.3. Each extra group is a copy of the K coarse keypoints in which
some points are moved by Gaussian noise ``N(0, cov·I)`` (offsets clipped to
``±offset_clip``, points clipped to ``point_range``). Groups attend only within
themselves and every group gets the same loss, so the decoder learns to recover
from bad starting points. Two ways to choose the moved points:

- ``'official'`` (the official code): one ``randperm`` over the G·K extra slots
  picks G·n of them, the same slots for the whole batch, so a group gets n
  points only on average;
- ``'per_group'``: exactly n points per group, drawn independently for every
  instance.
"""
from typing import Tuple

import torch
from torch import Tensor, nn


class NoisyReferenceSampler(nn.Module):
    """Draw noisy copies of reference points.

    Note:
        - batch: B
        - keypoints: K
        - extra groups: G = ``num_groups``

    Args:
        num_groups (int): G; 0 disables the noisy groups.
        num_noisy_points (int): n, points moved per group (on average in
            ``'official'`` mode).
        noise_cov (float): Variance of the isotropic Gaussian offsets
            (official: 0.2, σ ≈ 0.447).
        offset_clip (float): Offsets are clipped to [-offset_clip, offset_clip]
            (official: 1).
        point_range (tuple): Moved points are clipped to this range (official:
            (-0.7, 1.7)).
        mode (str): ``'official'`` or ``'per_group'`` (see the module
            docstring).
    """

    def __init__(self,
                 num_groups: int = 3,
                 num_noisy_points: int = 4,
                 noise_cov: float = 0.2,
                 offset_clip: float = 1.0,
                 point_range: Tuple[float, float] = (-0.7, 1.7),
                 mode: str = 'official') -> None:
        super().__init__()
        if mode not in ('official', 'per_group'):
            raise ValueError(
                "NoisyReferenceSampler: mode must be 'official' or "
                f"'per_group', got {mode!r}")
        if num_groups < 0 or num_noisy_points < 0 or noise_cov < 0:
            raise ValueError(
                'NoisyReferenceSampler: num_groups, num_noisy_points and '
                'noise_cov must be >= 0')
        self.num_groups = num_groups
        self.num_noisy_points = num_noisy_points
        self.noise_std = float(noise_cov)**0.5
        self.offset_clip = offset_clip
        self.point_range = tuple(point_range)
        self.mode = mode

    def forward(self, points: Tensor) -> Tensor:
        """Return the G noisy groups of ``points``.

        Args:
            points (Tensor): (B, K, 2) reference points (detached here).

        Returns:
            Tensor: (B, G·K, 2), group-major (group g holds slots g·K … g·K + K
                − 1).
        """
        B, K, _ = points.shape
        G, n = self.num_groups, min(self.num_noisy_points, points.shape[1])
        # (B, G*K, 2)
        groups = points.detach()[:, None].repeat(1, G, 1,
                                                 1).reshape(B, G * K, 2)
        if G == 0 or n == 0:
            return groups
        if self.mode == 'official':
            # one draw of G*n slots out of G*K, shared by the batch
            slots = torch.randperm(G * K, device=points.device)[:G * n]
            chosen = torch.zeros(G * K, dtype=torch.bool, device=points.device)
            chosen[slots] = True
            chosen = chosen[None].expand(B, -1)  # (B, G*K)
        else:
            # exactly n of the K keypoints in every group of every instance
            # (B, G, K)
            ranks = torch.rand(
                B, G, K, device=points.device).argsort(-1).argsort(-1)
            chosen = (ranks < n).reshape(B, G * K)
        offsets = (torch.randn_like(groups) *
                   self.noise_std).clamp(-self.offset_clip, self.offset_clip)
        noisy = (groups + offsets).clamp(*self.point_range)
        return torch.where(chosen[..., None], noisy, groups)  # (B, G*K, 2)
