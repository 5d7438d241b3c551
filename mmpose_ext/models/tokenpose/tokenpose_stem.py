"""TokenPose-S's small CNN stem (`TokenPose`, Li et al., ICCV 2021): two 3×3
stride-2 conv + BN + ReLU, then four ResNet bottlenecks (64 → 256 channels),
giving a 256-channel map at 1/4 of the input.

This is exactly HRNet's stem and ``layer1``; it is built from MMPose's ResNet
:class:`Bottleneck` / :class:`ResLayer` with HRNet's parameter names
(``conv1, bn1, conv2, bn2, layer1``), so HRNet checkpoints load into it
(``init_cfg=dict(type='Pretrained', checkpoint=..., )`` with ``strict=False``)
and its output equals MMPose's ``HRNet`` up to ``layer1`` (tested).
"""
from typing import Optional, Tuple

from mmcv.cnn import build_conv_layer, build_norm_layer
from mmengine.model import BaseModule
from mmpose.models.backbones.resnet import Bottleneck, ResLayer
from mmpose.registry import MODELS
from torch import Tensor, nn


@MODELS.register_module()
class TokenPoseStem(BaseModule):
    """conv3×3/2 → BN → ReLU → conv3×3/2 → BN → ReLU → ``num_blocks``
    bottlenecks.

    Args:
        in_channels (int): Image channels.
        stem_channels (int): Width of the two stride-2 convs (64).
        out_channels (int): Output channels of the bottlenecks (256; their mid
            width is ``out/4``).
        num_blocks (int): Bottlenecks (4).
        conv_cfg (dict, optional): mmcv conv config.
        norm_cfg (dict): mmcv norm config (BN).
        init_cfg (dict | list[dict], optional): Defaults to the official init:
            conv weights N(0, 0.001), BN weight 1 / bias 0.

    Returns (forward): a 1-tuple with the (B, out_channels, H/4, W/4) feature
        map.
    """

    def __init__(self,
                 in_channels: int = 3,
                 stem_channels: int = 64,
                 out_channels: int = 256,
                 num_blocks: int = 4,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 init_cfg=None) -> None:
        if init_cfg is None:
            init_cfg = [
                dict(type='Normal', layer='Conv2d', std=0.001),
                dict(
                    type='Constant', layer=['_BatchNorm', 'GroupNorm'], val=1)
            ]
        super().__init__(init_cfg=init_cfg)
        self.conv1 = build_conv_layer(
            conv_cfg,
            in_channels,
            stem_channels,
            3,
            stride=2,
            padding=1,
            bias=False)
        self.bn1 = build_norm_layer(norm_cfg, stem_channels)[1]
        self.conv2 = build_conv_layer(
            conv_cfg,
            stem_channels,
            stem_channels,
            3,
            stride=2,
            padding=1,
            bias=False)
        self.bn2 = build_norm_layer(norm_cfg, stem_channels)[1]
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = ResLayer(
            Bottleneck,
            num_blocks=num_blocks,
            in_channels=stem_channels,
            out_channels=out_channels,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg)

    def forward(self, x: Tensor) -> Tuple[Tensor]:
        """Args: x (B, 3, H, W). Returns: ((B, out_channels, H/4, W/4), )."""
        x = self.relu(self.bn1(self.conv1(x)))  # (B, stem, H/2, W/2)
        x = self.relu(self.bn2(self.conv2(x)))  # (B, stem, H/4, W/4)
        return (self.layer1(x), )
