"""The transformer encoder of TokenPose (`TokenPose: Learning Keypoint Tokens
for Human Pose Estimation`, Li et al., ICCV 2021): pre-norm layers over
keypoint tokens + visual tokens, with the fixed 2-D sine position embedding re-
added to the visual tokens before every layer (the official ``'sine-full'``
mode).

The layers are the plain ViT pre-norm layer: ``x = x + Attn(LN(x))``,
``x = x + FFN(LN(x))``. The FFN is mmcv's
:class:`~mmcv.cnn.bricks.transformer.FFN` (Linear → GELU → Linear). The
attention is written out here (rather than taken from ``nn.MultiheadAttention``
/ mmcv's wrapper of it) for two reasons only: its weights must be retrievable
for the attention-map tool, and TokenPose-S's official code scales the logits
by ``dim ** -0.5`` instead of ``head_dim ** -0.5`` (``qk_scale``). With
``qk_scale=None`` it computes exactly what ``nn.MultiheadAttention`` computes
(tested), with plain reshape/permute so it exports to ONNX.
"""
from typing import List, Optional, Tuple

import torch
from mmcv.cnn import build_norm_layer
from mmcv.cnn.bricks.transformer import FFN
from mmengine.model import BaseModule
from torch import Tensor, nn


class TokenAttention(BaseModule):
    """Multi-head self-attention that can also return its attention weights.

    Note:
        - batch size: B
        - tokens: N (keypoint tokens first, then visual tokens)
        - embedding dims: D, heads: M, head dims: d = D / M

    Args:
        embed_dims (int): D.
        num_heads (int): M; must divide D.
        qkv_bias (bool): Bias in the fused q/k/v projection (the official code
            has none).
        qk_scale (float, optional): Logit scale; ``None`` → ``d ** -0.5``
            (standard; TokenPose-B). TokenPose-S's official code uses
            ``D ** -0.5``.
        attn_drop (float): Dropout on the attention weights.
        proj_drop (float): Dropout after the output projection.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 qkv_bias: bool = False,
                 qk_scale: Optional[float] = None,
                 attn_drop: float = 0.,
                 proj_drop: float = 0.) -> None:
        super().__init__()
        if embed_dims % num_heads:
            raise ValueError(
                f'TokenAttention: embed_dims ({embed_dims}) must be '
                'divisible by '
                f'num_heads ({num_heads})')
        self.num_heads = num_heads
        self.scale = qk_scale if qk_scale is not None else (embed_dims //
                                                            num_heads)**-0.5
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self,
                x: Tensor,
                need_weights: bool = False) -> Tuple[Tensor, Optional[Tensor]]:
        """Multi-head self-attention.

        Args: x (B, N, D). Returns: output (B, N, D) and, if ``need_weights``,
        the softmaxed attention (B, M, N, N) (rows = queries), else ``None``.
        """
        B, N, D = x.shape
        M = self.num_heads
        # (B, N, 3, M, d): [q | k | v], heads contiguous
        qkv = self.qkv(x).reshape(B, N, 3, M, D // M)
        qkv = qkv.permute(2, 0, 3, 1, 4)  # (3, B, M, N, d)
        q, k, v = qkv[0], qkv[1], qkv[2]
        # scale q before the product (not the logits after it): the same value,
        # and no fp16 overflow of q·k
        # (B, M, N, N)
        attn = torch.matmul(q * self.scale, k.transpose(-2, -1))
        attn = attn.softmax(dim=-1)
        out = torch.matmul(self.attn_drop(attn), v)  # (B, M, N, d)
        out = out.transpose(1, 2).reshape(B, N, D)  # (B, N, M*d)
        out = self.proj_drop(self.proj(out))
        return out, (attn if need_weights else None)


class TokenPoseEncoderLayer(BaseModule):
    """Pre-norm transformer layer: ``x + Attn(LN(x))`` then ``x + FFN(LN(x))``
    (mmcv FFN, GELU).

    Args:
        embed_dims (int): D.
        num_heads (int): Attention heads.
        mlp_ratio (float): FFN hidden width = ``mlp_ratio · D``.
        qkv_bias, qk_scale: See :class:`TokenAttention`.
        drop_rate (float): Dropout in the FFN and after the attention
            projection.
        attn_drop_rate (float): Dropout on the attention weights.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 mlp_ratio: float = 3.,
                 qkv_bias: bool = False,
                 qk_scale: Optional[float] = None,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.) -> None:
        super().__init__()
        self.norm1 = build_norm_layer(dict(type='LN'), embed_dims)[1]
        self.attn = TokenAttention(embed_dims, num_heads, qkv_bias, qk_scale,
                                   attn_drop_rate, drop_rate)
        self.norm2 = build_norm_layer(dict(type='LN'), embed_dims)[1]
        self.ffn = FFN(
            embed_dims=embed_dims,
            feedforward_channels=int(embed_dims * mlp_ratio),
            num_fcs=2,
            act_cfg=dict(type='GELU'),
            ffn_drop=drop_rate,
            add_identity=True)

    def forward(self,
                x: Tensor,
                need_weights: bool = False) -> Tuple[Tensor, Optional[Tensor]]:
        """One pre-norm transformer layer.

        Args: x (B, N, D). Returns: (B, N, D) and the attention weights (B, M,
        N, N) or ``None``.
        """
        out, weights = self.attn(self.norm1(x), need_weights)
        x = x + out
        x = self.ffn(self.norm2(x), identity=x)
        return x, weights


class TokenPoseTransformer(BaseModule):
    """``depth`` :class:`TokenPoseEncoderLayer` s; the position embedding is
    added before each layer.

    Args:
        depth (int): Number of layers.
        pos_every_layer (bool): Re-add ``pos`` before every layer (official
            ``'sine-full'``, used by all of TokenPose's COCO configs) or only
            before the first (``'sine'``).
        **layer_kwargs: Passed to :class:`TokenPoseEncoderLayer`.
    """

    def __init__(self,
                 depth: int,
                 pos_every_layer: bool = True,
                 **layer_kwargs) -> None:
        super().__init__()
        self.pos_every_layer = pos_every_layer
        self.layers = nn.ModuleList(
            [TokenPoseEncoderLayer(**layer_kwargs) for _ in range(depth)])

    def forward(self,
                x: Tensor,
                pos: Tensor,
                need_weights: bool = False,
                pos_first: bool = True
                ) -> Tuple[Tensor, List[Optional[Tensor]]]:
        """Args:
            x (B, N, D): keypoint tokens then visual tokens.
            pos (1, N, D): position embedding, zero on the keypoint tokens
                (they get none).
            need_weights (bool): Also return each layer's attention weights.
            pos_first (bool): Add ``pos`` before the first layer. TokenPose-L
                chains three transformers and the official code adds the
                embedding to the input of the first one only, then before every
                layer but the first of each (``'sine-full'``): its second and
                third transformers run with ``pos_first=False``.

        Returns:
            (B, N, D) output tokens and one attention tensor (B, M, N, N) per
            layer (``None`` unless ``need_weights``).
        """
        weights = []
        for i, layer in enumerate(self.layers):
            if (i == 0 and pos_first) or (i > 0 and self.pos_every_layer):
                # out-of-place: the official in-place slice update does not
                # export
                x = x + pos
            x, w = layer(x, need_weights)
            weights.append(w)
        return x, weights
