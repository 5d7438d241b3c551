"""TokenPose's head (`TokenPose: Learning Keypoint Tokens for Human Pose
Estimation`, Li et al., ICCV 2021) as an MMPose 1.x heatmap head.

A CNN feature map is cut into patches, each patch flattened and projected by a
Linear into a visual token; K learnable keypoint tokens are prepended; a fixed
2-D sine position embedding (DETR's, via mmdet's
:class:`~mmdet.models.layers.SinePositionalEncoding`, normalised, temperature
10000, scale 2π) is re-added to the visual tokens before every transformer
layer (keypoint tokens get none); the output keypoint tokens go through an MLP
(LN → Linear → LN → Linear) to one flattened heatmap each.

Everything after ``forward`` is MMPose's
:class:`~mmpose.models.heads.HeatmapHead`: ``loss`` (the registry's
``KeypointMSELoss`` against the codec's targets + PCK accuracy) and ``predict``
(heatmap flip test with ``flip_indices``, optional shift, then the codec's
``decode``) are inherited unchanged, so any MMPose heatmap codec
(``MSRAHeatmap``, ``UDPHeatmap``...) and recipe works. Only plain
reshape/permute are used (no ``einops``, no in-place slice updates), so
``forward`` exports to ONNX.

Mixed precision: under fp16/bf16 autocast the transformer and the MLP run in
half precision and the heatmaps leave :meth:`forward` in float32, so the MSE
loss, MMPose's accuracy and the codec's sub-pixel decoding see float32 (MMPose
takes both through numpy, which has no bfloat16). Non-finite loss terms or
decoded keypoints /scores raise a
:class:`~mmpose_ext.models.common.NonFiniteError` naming this head and the
cause (non-finite features reaching the head, or the head itself).
"""
import math
from typing import List, Optional, Sequence, Tuple

import torch
from mmdet.models.layers import SinePositionalEncoding
from mmengine.model.weight_init import trunc_normal_
from mmpose.models.heads import HeatmapHead
from mmpose.registry import MODELS
from mmpose.utils.typing import (ConfigType, OptConfigType, OptSampleList,
                                 Predictions)
from torch import Tensor, nn

from ..common.finite import check_head, check_instances
from ..common.keypoint_count import resolve_num_keypoints
from .transformer import TokenPoseTransformer


def heatmap_mlp(in_dims: int, hidden_dims: int,
                num_pixels: int) -> nn.Sequential:
    """The official heatmap MLP: LN → Linear(in, hidden) → LN → Linear(hidden,
    Hh·Wh) when ``in_dims <= hidden_dims / 2``, else LN → Linear(in, Hh·Wh)."""
    if in_dims <= hidden_dims * 0.5:
        return nn.Sequential(
            nn.LayerNorm(in_dims), nn.Linear(in_dims, hidden_dims),
            nn.LayerNorm(hidden_dims), nn.Linear(hidden_dims, num_pixels))
    return nn.Sequential(nn.LayerNorm(in_dims), nn.Linear(in_dims, num_pixels))


@MODELS.register_module()
class TokenPoseHead(HeatmapHead):
    """Keypoint tokens + visual tokens in one transformer, decoded to heatmaps.

    Note:
        - batch size: B
        - keypoints: K (``out_channels``, or read from ``metainfo``, e.g. 17
          for COCO)
        - feature map: C channels, H × W; patch ph × pw; visual tokens N =
          (H/ph)·(W/pw)
        - embedding dims: D
        - heatmap: Hh × Wh (the codec's ``heatmap_size`` is (Wh, Hh))

    Args:
        in_channels (int): C of the last feature map.
        out_channels (int, optional): K; read from ``metainfo`` when None (both
            given must agree).
        patch_size (tuple[int, int]): (ph, pw); H and W must be divisible by
            them. TokenPose-S-v1/B use (4, 3) on a 64×48 map, S-v2 (2, 2).
        heatmap_size (tuple[int, int], optional): (Wh, Hh); defaults to the
            decoder's ``heatmap_size``.
        embed_dims (int): D (192 in all TokenPose models).
        depth (int): Transformer layers (12 for S/B).
        num_heads (int): Attention heads (8 for S/B).
        mlp_ratio (float): FFN width / D (3).
        qkv_bias (bool): Bias on the q/k/v projection (official: none).
        qk_scale (float, optional): Attention logit scale; ``None`` →
            ``(D/heads)**-0.5`` (TokenPose-B's code); TokenPose-S's code uses
            ``D**-0.5``.
        drop_rate (float): Dropout in the transformer (official: 0).
        attn_drop_rate (float): Dropout on attention weights (official: 0).
        pos_every_layer (bool): Re-add the position embedding before every
            layer (official ``'sine-full'``) or only before the first
            (``'sine'``).
        temperature (float): Temperature of the sine embedding.
        hidden_dims (int, optional): Hidden width of the heatmap MLP; ``None``
            → Hh·Wh // 8 (official). As in the official code, the MLP has a
            hidden layer only when ``D <= hidden_dims / 2``, otherwise it is LN
            → Linear(D, Hh·Wh).
        loss (dict): Keypoint loss config (MMPose's ``KeypointMSELoss`` by
            default).
        decoder (dict, optional): Heatmap codec config (e.g. ``MSRAHeatmap``).
        metainfo (dict, optional): The dataset metainfo giving K, e.g.
            ``dict(from_file='configs/_base_/datasets/coco.py')``.
        output_init (str): The heatmap MLP's last Linear. ``'official'``
            (default): truncated-normal(0.02) like every Linear, which starts
            each heatmap pixel as noise of std ≈ 0.28, 2.3× the targets' RMS:
            the MSE then falls fastest by making every keypoint token alike,
            and the heatmaps collapse to one mean map for hundreds of steps.
            ``'small'``: N(0, 0.001²) weights and zero bias, the start of
            MMPose's ``HeatmapHead`` final layer, so the first heatmaps are
            near zero and the step-0 loss that of predicting zeros.
        init_cfg (dict, optional): Defaults to truncated-normal(0.02) Linear
            weights, zero biases, LayerNorm (1, 0), as the official code;
            keypoint tokens are truncated-normal(0.02).
    """

    OUTPUT_INITS = ('official', 'small')

    def __init__(self,
                 in_channels: int,
                 out_channels: Optional[int] = None,
                 patch_size: Sequence[int] = (4, 3),
                 heatmap_size: Optional[Sequence[int]] = None,
                 embed_dims: int = 192,
                 depth: int = 12,
                 num_heads: int = 8,
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
        out_channels = resolve_num_keypoints(out_channels, metainfo,
                                             'TokenPoseHead')
        if output_init not in self.OUTPUT_INITS:
            raise ValueError(f'{type(self).__name__}: output_init must be '
                             f'one of {self.OUTPUT_INITS}, got '
                             f'{output_init!r}')
        self.output_init = output_init
        # HeatmapHead's own layers are switched off (Identity); we keep its
        # loss/predict/decoder.
        super().__init__(
            in_channels=in_channels,
            out_channels=out_channels,
            deconv_out_channels=None,
            conv_out_channels=None,
            final_layer=None,
            loss=loss,
            decoder=decoder,
            init_cfg=init_cfg)
        if heatmap_size is None:
            if self.decoder is None or not hasattr(self.decoder,
                                                   'heatmap_size'):
                raise ValueError(
                    'TokenPoseHead: give heatmap_size=(W, H) or a heatmap '
                    'decoder')
            heatmap_size = self.decoder.heatmap_size
        if embed_dims % 2:
            raise ValueError(
                'TokenPoseHead: embed_dims must be even (half for x, half '
                'for y), '
                f'got {embed_dims}')
        self.patch_size = tuple(int(p) for p in patch_size)
        self.heatmap_size = tuple(int(s) for s in heatmap_size)  # (Wh, Hh)
        self.embed_dims = embed_dims
        num_pixels = self.heatmap_size[0] * self.heatmap_size[1]

        self.patch_embed = nn.Linear(
            in_channels * self.patch_size[0] * self.patch_size[1], embed_dims)
        self.keypoint_tokens = nn.Parameter(
            torch.zeros(1, out_channels, embed_dims))
        trunc_normal_(self.keypoint_tokens, std=.02)
        self.positional_encoding = SinePositionalEncoding(
            num_feats=embed_dims // 2,
            temperature=temperature,
            normalize=True,
            scale=2 * math.pi)
        self.transformer, token_dims = self._build_transformer(
            depth,
            dict(
                pos_every_layer=pos_every_layer,
                embed_dims=embed_dims,
                num_heads=num_heads,
                mlp_ratio=mlp_ratio,
                qkv_bias=qkv_bias,
                qk_scale=qk_scale,
                drop_rate=drop_rate,
                attn_drop_rate=attn_drop_rate))
        hidden_dims = num_pixels // 8 if hidden_dims is None else hidden_dims
        self.mlp_head = heatmap_mlp(token_dims, hidden_dims, num_pixels)

    def _build_transformer(self, depth: int,
                           cfg: dict) -> Tuple[nn.Module, int]:
        """The encoder and the width of the keypoint features it gives the MLP
        (here D)."""
        return TokenPoseTransformer(depth=depth, **cfg), cfg['embed_dims']

    def _encode(self, tokens: Tensor, pos: Tensor,
                need_weights: bool) -> Tuple[Tensor, List[Optional[Tensor]]]:
        """Run the transformer on the tokens.

        Args: tokens (B, K+N, D), pos (1, K+N, D). Returns: the output keypoint
        tokens (B, K, D) and each layer's attention weights (B, M, K+N, K+N)
        (``None`` unless ``need_weights``).
        """
        # (B, K+N, D)
        tokens, weights = self.transformer(tokens, pos, need_weights)
        return tokens[:, :self.out_channels], weights

    @property
    def default_init_cfg(self):
        return [
            dict(type='TruncNormal', layer='Linear', std=.02, bias=0.),
            dict(type='Constant', layer='LayerNorm', val=1., bias=0.),
        ]

    def init_weights(self) -> None:
        """The configured init, then the heatmap MLP's last Linear as
        ``output_init`` says."""
        super().init_weights()
        cfgs = self.init_cfg if isinstance(self.init_cfg,
                                           list) else [self.init_cfg]
        pretrained = any(c and c.get('type') == 'Pretrained' for c in cfgs)
        if self.output_init == 'small' and not pretrained:
            last = self.mlp_head[-1]  # Linear(hidden or D → Hh·Wh)
            nn.init.normal_(last.weight, std=0.001)
            nn.init.zeros_(last.bias)

    def patchify(self, x: Tensor) -> Tensor:
        """Cut (B, C, H, W) into (B, N, ph·pw·C) patch vectors, row-major over
        the patch grid, each patch ordered (row in patch, column in patch,
        channel) like the official ``einops`` pattern ``'b c (h p1) (w p2) -> b
        (h w) (p1 p2 c)'``."""
        B, C, H, W = x.shape
        ph, pw = self.patch_size
        if H % ph or W % pw:
            raise ValueError(
                f'TokenPoseHead: feature map {H}x{W} is not divisible by '
                f'patch size {ph}x{pw}')
        h, w = H // ph, W // pw
        x = x.reshape(B, C, h, ph, w, pw)  # (B, C, h, ph, w, pw)
        x = x.permute(0, 2, 4, 3, 5, 1)  # (B, h, w, ph, pw, C)
        return x.reshape(B, h * w, ph * pw * C)  # (B, N, ph*pw*C)

    def position_embedding(self, h: int, w: int, like: Tensor) -> Tensor:
        """The fixed 2-D sine embedding of an h × w patch grid as (1, K + h·w,
        D), zero on the K keypoint tokens; channels [0, D/2) encode y, [D/2, D)
        encode x (mmdet's layout)."""
        mask = like.new_zeros((1, h, w), dtype=torch.bool)
        pos = self.positional_encoding(mask)  # (1, D, h, w)
        pos = pos.flatten(2).transpose(1, 2)  # (1, h*w, D)
        # (1, K, D)
        no_pos = pos.new_zeros((1, self.out_channels, self.embed_dims))
        return torch.cat([no_pos, pos.to(like.dtype)], dim=1)  # (1, K+N, D)

    def forward_with_attention(
        self,
        feats: Tuple[Tensor],
        need_weights: bool = True
    ) -> Tuple[Tensor, List[Optional[Tensor]], Tuple[int, int]]:
        """Like :meth:`forward`, also returning the attention and patch grid.

        Each layer's attention is (B, M, K+N, K+N) and the patch grid (h, w),
        so that ``attn[:, :, k, K:].reshape(B, M, h, w)`` is keypoint k's
        attention over the image.
        """
        x = feats[-1]  # (B, C, H, W)
        B, C, H, W = x.shape
        if (C * self.patch_size[0] * self.patch_size[1]
                != self.patch_embed.in_features):
            built_for = self.patch_embed.in_features // (
                self.patch_size[0] * self.patch_size[1])
            raise ValueError(
                f'TokenPoseHead: got {C} feature channels, built for '
                f'{built_for}')
        grid = (H // self.patch_size[0], W // self.patch_size[1])
        visual = self.patch_embed(self.patchify(x))  # (B, N, D)
        keypoints = self.keypoint_tokens.expand(B, -1, -1)  # (B, K, D)
        tokens = torch.cat([keypoints, visual], dim=1)  # (B, K+N, D)
        pos = self.position_embedding(grid[0], grid[1], tokens)  # (1, K+N, D)
        # (B, K, D), or (B, K, 3D) for L
        keypoint_feats, weights = self._encode(tokens, pos, need_weights)
        # (B, K, Hh*Wh), float32 under autocast
        heatmaps = self.mlp_head(keypoint_feats).float()
        # (B, K, Hh, Wh)
        heatmaps = heatmaps.reshape(B, self.out_channels, self.heatmap_size[1],
                                    self.heatmap_size[0])
        return heatmaps, weights, grid

    def forward(self, feats: Tuple[Tensor]) -> Tensor:
        """Predict heatmaps from the last feature map.

        Args: feats: backbone/neck outputs; the last one (B, C, H, W) is used.
        Returns: heatmaps (B, K, Hh, Wh), float32 (also under autocast).
        """
        return self.forward_with_attention(feats, need_weights=False)[0]

    def _check_targets(self, batch_data_samples: OptSampleList) -> None:
        if not batch_data_samples:
            raise ValueError('TokenPoseHead.loss: empty batch (no instances)')
        gt = batch_data_samples[0].gt_fields.heatmaps
        expected = (self.out_channels, self.heatmap_size[1],
                    self.heatmap_size[0])
        if tuple(gt.shape) != expected:
            raise ValueError(
                f'TokenPoseHead.loss: target heatmaps {tuple(gt.shape)} do '
                'not match the head '
                f'(K, Hh, Wh) = {expected}; check out_channels against the '
                'dataset metainfo '
                f'and heatmap_size against the codec')

    def loss(self,
             feats: Tuple[Tensor],
             batch_data_samples: OptSampleList,
             train_cfg: ConfigType = {}) -> dict:
        """MMPose's HeatmapHead loss (``loss_kpt`` + ``acc_pose``) after
        checking K and the heatmap size; a non-finite term raises
        :class:`NonFiniteError` before the optimizer step."""
        self._check_targets(batch_data_samples)
        losses = super().loss(feats, batch_data_samples, train_cfg)
        check_head(losses, type(self).__name__, 'loss', feats)
        return losses

    def predict(self,
                feats,
                batch_data_samples: OptSampleList,
                test_cfg: ConfigType = {}) -> Predictions:
        """MMPose's HeatmapHead predict (flip test, decode) after checking
        ``flip_indices`` against K; non-finite decoded keypoints or scores
        raise :class:`NonFiniteError`."""
        if test_cfg.get('flip_test', False):
            flip_indices = batch_data_samples[0].metainfo['flip_indices']
            if len(flip_indices) != self.out_channels:
                raise ValueError(f'TokenPoseHead.predict: {len(flip_indices)} '
                                 'flip_indices for '
                                 f'{self.out_channels} keypoints')
        out = super().predict(feats, batch_data_samples, test_cfg)
        # (preds, heatmaps) with output_heatmaps
        preds = out[0] if isinstance(out, tuple) else out
        check_instances(preds, type(self).__name__, feats)
        return out
