"""Poseur's keypoint encoder: the decoder's content queries from the coarse
keypoints.

`Poseur: Direct Human Pose Regression with Transformers` (Mao et al., ECCV
2022), Sec. 3.2. Each reference point (x, y) in [0, 1] is encoded with sines
(128 frequencies per axis, temperature 10000, scale 2π, sin/cos interleaved, as
Deformable DETR's proposal encoding). The official code encodes the point
twice, as given and clipped to [0, 1] (noisy points may leave the image), and
maps the 512-d concatenation to the query with
``LayerNorm(Linear(512 → 256))``.
"""
import math

import torch
from torch import Tensor, nn


def sine_encode_points(points: Tensor,
                       num_feats: int = 128,
                       temperature: float = 10000.,
                       scale: float = 2 * math.pi) -> Tensor:
    """Sine encoding of 2-D points.

    Note:
        - points: N (any leading shape ``...``)
        - frequencies per axis: F = ``num_feats`` (even)

    Args:
        points (Tensor): (..., 2) as (x, y), normalised (usually [0, 1]).
        num_feats (int): F, the encoding width per axis.
        temperature (float): Base of the geometric frequency ladder.
        scale (float): Multiplier of the coordinates before encoding.

    Returns:
        Tensor: (..., 2·F): the x encoding then the y encoding, each
            ``[sin, cos, sin, cos, ...]``
        over frequencies ``temperature^(2⌊i/2⌋/F)``.
    """
    if num_feats % 2:
        raise ValueError(
            f'sine_encode_points: num_feats must be even, got {num_feats}')
    dim_t = torch.arange(num_feats, dtype=torch.float32, device=points.device)
    # (F,)
    dim_t = temperature**(2 * torch.div(dim_t, 2, rounding_mode='floor') /
                          num_feats)
    pos = points.float()[..., None] * scale / dim_t  # (..., 2, F)
    # (..., 2, F/2, 2)
    pos = torch.stack((pos[..., 0::2].sin(), pos[..., 1::2].cos()), dim=-1)
    return pos.flatten(-3).to(points.dtype)  # (..., 2·F)


class KeypointEncoder(nn.Module):
    """Content queries from reference points.

    ``LN(Linear(cat[PE(p), PE(clip(p, 0, 1))]))``.

    Initialisation: ``proj`` Xavier-uniform with a zero bias. The official
    ``pos_trans`` is Xavier-uniform (its transformer's pass over ≥ 2-D
    parameters) with PyTorch's default bias U(±1/√(2C)); the head's
    ``init_scheme='official'`` re-draws the bias so.

    Args:
        embed_dims (int): Query width C (the sine encoding has C/2 frequencies
            per axis).
        temperature (float): Temperature of the sine encoding.
    """

    def __init__(self,
                 embed_dims: int = 256,
                 temperature: float = 10000.) -> None:
        super().__init__()
        self.embed_dims = embed_dims
        self.temperature = temperature
        self.proj = nn.Linear(2 * embed_dims, embed_dims)
        self.norm = nn.LayerNorm(embed_dims)
        nn.init.xavier_uniform_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, points: Tensor) -> Tensor:
        """Encode (B, Q, 2) reference points (detached here) into (B, Q, C)
        content queries."""
        points = points.detach()
        # (B, Q, C)
        pe = sine_encode_points(points, self.embed_dims // 2, self.temperature)
        pe_clipped = sine_encode_points(
            points.clamp(0, 1), self.embed_dims // 2, self.temperature)
        # (B, Q, C)
        return self.norm(self.proj(torch.cat([pe, pe_clipped], dim=-1)))
