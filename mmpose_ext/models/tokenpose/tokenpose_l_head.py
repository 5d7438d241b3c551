"""TokenPose-L's head (`TokenPose: Learning Keypoint Tokens for Human Pose
Estimation`, Li et al., ICCV 2021, Sec. 3 "keypoint token fusion" and Table 1;
official ``TokenPose_L_base`` in leeyegy/TokenPose
``lib/models/tokenpose_base.py``).

TokenPose-L/D24 reads ONE feature map, HRNet-W48's 48-channel 1/4-resolution
branch after stage 3 (the official ``HRNET_base`` returns only the fused
high-resolution branch of stage 3), cuts it into 4×3 patches (256 visual tokens
at 256×192) and prepends K keypoint tokens, exactly as TokenPose-S/B. What
differs is the encoder: three transformers of 8 layers each (12 heads, D = 192,
MLP ratio 3, ``head_dim ** -0.5`` scale) run **one after the other** on the
whole token sequence (the second reads the first one's output tokens, keypoint
and visual, and so on); the K output keypoint tokens of each of the three are
**concatenated along the channels** ("keypoint token fusion", (B, K, 3·D)) and
one MLP turns them into heatmaps. With 3·D = 576 > Hh·Wh/16 = 192 the official
MLP has no hidden layer: LN(576) → Linear(576, Hh·Wh) (the config's
``HIDDEN_HEATMAP_DIM: 384`` is never used).

Position embedding ('sine-full'): added to the visual tokens of the first
transformer's input and before every layer but the first of each transformer,
i.e. before 22 of the 24 layers (not before layers 9 and 17), as in the
official code (``Transformer.forward`` adds it for ``idx > 0``).

Everything else (patching, sine embedding, loss, flip test, decoding, checks of
K and of non-finite values, ONNX-friendly reshapes) is
:class:`TokenPoseHead`'s.
"""
from typing import List, Optional, Sequence, Tuple

import torch
from mmpose.registry import MODELS
from mmpose.utils.typing import ConfigType, OptConfigType
from torch import Tensor, nn

from .tokenpose_head import TokenPoseHead
from .transformer import TokenPoseTransformer


@MODELS.register_module()
class TokenPoseLHead(TokenPoseHead):
    """TokenPose-L: chained transformers, keypoint tokens concatenated.

    The keypoint tokens of the chained transformers are concatenated before
    the heatmap MLP.

    Note:
        - batch size: B
        - keypoints: K (``out_channels``, or read from ``metainfo``: 17 for
          COCO, 14 for CrowdPose...)
        - feature map: C × H × W (48 × 64 × 48 for HRNet-W48 at 256×192);
          patch ph × pw; visual tokens N = (H/ph)·(W/pw)
        - transformers: S = ``len(depth)`` (3), each ``depth[s]`` layers;
          embedding dims D
        - heatmap: Hh × Wh

    Shapes: feats[-1] (B, C, H, W) → tokens (B, K+N, D) → per transformer
    (B, K+N, D) → fused keypoint tokens (B, K, S·D) → MLP → heatmaps (B, K,
    Hh, Wh).

    Args:
        in_channels (int): C of the last feature map (48 for HRNet-W48's first
            branch).
        out_channels (int, optional): K; read from ``metainfo`` when None.
        patch_size (tuple[int, int]): (ph, pw), (4, 3) for L/D24 at 256×192.
        heatmap_size (tuple[int, int], optional): (Wh, Hh); defaults to the
            decoder's.
        embed_dims (int): D (192).
        depth (Sequence[int]): Layers of each chained transformer: (8, 8, 8)
            for L/D24; the official MPII L/D6 config has
            ``TRANSFORMER_DEPTH: 2``, i.e. (2, 2, 2) with 8 heads.
        num_heads (int): Heads (12 for L/D24).
        mlp_ratio (float): FFN width / D (3).
        qkv_bias (bool): Bias on q/k/v (official: none).
        qk_scale (float, optional): ``None`` → ``(D/heads) ** -0.5`` (official
            L: ``scale_with_head=True``).
        drop_rate, attn_drop_rate (float): Dropouts (official: 0).
        pos_every_layer (bool): 'sine-full' (True) or 'sine' (False: only
            before the very first layer).
        temperature (float): Sine embedding temperature (10000).
        hidden_dims (int, optional): Hidden width of the heatmap MLP; ``None``
            → Hh·Wh // 8; a hidden layer is used only when
            ``S·D <= hidden_dims / 2`` (official rule, on the fused width).
        loss, decoder, metainfo, output_init, init_cfg: As
            :class:`TokenPoseHead`.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: Optional[int] = None,
                 patch_size: Sequence[int] = (4, 3),
                 heatmap_size: Optional[Sequence[int]] = None,
                 embed_dims: int = 192,
                 depth: Sequence[int] = (8, 8, 8),
                 num_heads: int = 12,
                 mlp_ratio: float = 3.,
                 qkv_bias: bool = False,
                 qk_scale: Optional[float] = None,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 pos_every_layer: bool = True,
                 temperature: float = 10000.,
                 hidden_dims: Optional[int] = None,
                 loss: ConfigType = dict(
                     type='KeypointMSELoss', use_target_weight=True),
                 decoder: OptConfigType = None,
                 metainfo: Optional[dict] = None,
                 output_init: str = 'official',
                 init_cfg: OptConfigType = None) -> None:
        if isinstance(depth, int) or not len(depth) or any(
                int(d) < 1 for d in depth):
            raise ValueError(
                'TokenPoseLHead: depth must be a non-empty sequence of '
                'layer counts, one per '
                f'chained transformer, e.g. (8, 8, 8); got {depth!r}')
        super().__init__(
            in_channels=in_channels,
            out_channels=out_channels,
            patch_size=patch_size,
            heatmap_size=heatmap_size,
            embed_dims=embed_dims,
            depth=tuple(int(d) for d in depth),
            num_heads=num_heads,
            mlp_ratio=mlp_ratio,
            qkv_bias=qkv_bias,
            qk_scale=qk_scale,
            drop_rate=drop_rate,
            attn_drop_rate=attn_drop_rate,
            pos_every_layer=pos_every_layer,
            temperature=temperature,
            hidden_dims=hidden_dims,
            loss=loss,
            decoder=decoder,
            metainfo=metainfo,
            output_init=output_init,
            init_cfg=init_cfg)

    def _build_transformer(self, depth: Sequence[int],
                           cfg: dict) -> Tuple[nn.Module, int]:
        """S chained :class:`TokenPoseTransformer` s; the MLP reads their S
        keypoint outputs side by side."""
        stages = nn.ModuleList(
            [TokenPoseTransformer(depth=d, **cfg) for d in depth])
        return stages, cfg['embed_dims'] * len(depth)

    def _encode(self, tokens: Tensor, pos: Tensor,
                need_weights: bool) -> Tuple[Tensor, List[Optional[Tensor]]]:
        """Run the chained transformers and fuse their keypoint tokens.

        Args: tokens (B, K+N, D), pos (1, K+N, D). Returns: fused keypoint
        tokens (B, K, S·D) and the attention weights of all S·depth layers in
        order (``None`` s unless ``need_weights``).
        """
        K = self.out_channels
        keypoint_outs, weights = [], []
        for s, stage in enumerate(self.transformer):
            # (B, K+N, D)
            tokens, w = stage(tokens, pos, need_weights, pos_first=(s == 0))
            keypoint_outs.append(tokens[:, :K])  # (B, K, D)
            weights.extend(w)
        return torch.cat(keypoint_outs, dim=-1), weights  # (B, K, S*D)
