"""Poseur's coarse stage: RLE-style global regression of the initial keypoints.

`Poseur: Direct Human Pose Regression with Transformers` (Mao et al., ECCV
2022), Sec. 3.1. The lowest-resolution neck level is average-pooled;
``fc_coord`` (a Linear whose input is L2-normalised, as RLE's official
``Linear(norm=True)``) gives 2K coordinates in normalised input-image units and
``fc_sigma`` (+ sigmoid) their σ.

Initialisation: both layers are built small (Xavier gain 0.01, zero bias,
``fc_coord``'s bias ``coord_bias_init``), which the head's ``'detr'`` scheme
keeps. The official layers (``Linear_with_norm``) also draw Xavier gain 0.01 in
their constructor, but they belong to the official transformer, whose
``init_weights`` then re-draws every ≥ 2-D parameter Xavier with gain 1 (its
later gain-0.01 pass looks for ``nn.Linear`` and misses them); their biases
keep PyTorch's default. The head's ``init_scheme='official'`` re-draws them so.
"""
from typing import Tuple

from torch import Tensor, nn

from ..common.precision import at_least_fp32


class NormInputLinear(nn.Linear):
    """``y = W·x / ‖x‖ + b``: a Linear layer on the L2-normalised input.

    RLE's fc_coord.
    """

    def __init__(self,
                 in_features: int,
                 out_features: int,
                 eps: float = 1e-6) -> None:
        super().__init__(in_features, out_features)
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        norm = x.norm(dim=-1, keepdim=True).clamp(min=self.eps)
        return x.matmul(self.weight.t()) / norm + self.bias


class CoarseStage(nn.Module):
    """Pooled feature → K coarse keypoints and their σ.

    Args:
        embed_dims (int): Channels C of the pooled level.
        num_keypoints (int): K.
        coord_bias_init (float): Initial bias of ``fc_coord``. The official
            code leaves PyTorch's default (≈ 0, i.e. every keypoint starts at
            the top-left corner); 0.5 (the image centre) makes the first
            reference points useful from the first step.
    """

    def __init__(self,
                 embed_dims: int,
                 num_keypoints: int,
                 coord_bias_init: float = 0.5) -> None:
        super().__init__()
        self.num_keypoints = num_keypoints
        self.fc_coord = NormInputLinear(embed_dims, num_keypoints * 2)
        self.fc_sigma = nn.Linear(embed_dims, num_keypoints * 2)
        for fc in (self.fc_coord, self.fc_sigma):
            nn.init.xavier_uniform_(fc.weight, gain=0.01)
            nn.init.zeros_(fc.bias)
        nn.init.constant_(self.fc_coord.bias, coord_bias_init)

    def forward(self, feat: Tensor) -> Tuple[Tensor, Tensor]:
        """(B, C, h, w) → coordinates (B, K, 2) and σ (B, K, 2) in (0, 1), both
        float32 or wider (under autocast the two Linear layers run in half
        precision, their outputs and the sigmoid in float32)."""
        x = feat.mean(dim=(2, 3))  # (B, C): global average pool
        # (B, K, 2)
        coords = at_least_fp32(self.fc_coord(x)).reshape(
            -1, self.num_keypoints, 2)
        # (B, K, 2)
        sigma = at_least_fp32(self.fc_sigma(x)).reshape(
            -1, self.num_keypoints, 2).sigmoid()
        return coords, sigma
