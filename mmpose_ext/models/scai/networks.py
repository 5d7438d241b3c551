"""SCAI's three fully convolutional heatmap networks (Kan et al., CVPR 2023).

- prediction Φ: (H_A, H_B, H_C, f) → Ĥ_D, 13 conv layers in the paper;
- feedback Γ: (H_B, H_C, H_D, f) → Ĥ_A, same structure as Φ;
- correction C: (Ĥ_D, e_s) → ΔH_D, 7 conv layers, where e_s is the feedback
  error map.

The paper gives the depths but not the widths, kernels or how the image feature
f enters. Ours (all configurable): 3×3 convolutions of ``width`` channels with
BatchNorm + ReLU between them and a plain conv last; f (the frozen model's
features) is reduced by a 1×1 conv to ``feat_proj_channels``, resized
bilinearly to the heatmap size and concatenated to the heatmaps. All M chains
go through one network at once: chain m's input heatmaps are input channels
``m·P … m·P+P−1`` and its output is channel m.
"""
from typing import Optional

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmpose.registry import MODELS
from torch import Tensor, nn


class SCAIConvNet(BaseModule):
    """A stack of ``num_layers`` convolutions from heatmaps (+ image features)
    to heatmaps.

    Note:
        - instances: B
        - input heatmap channels: Cin (P nodes × M chains)
        - output heatmap channels: Cout (M chains)
        - image feature channels: F
        - heatmap size: h, w; feature size: hf, wf

    Args:
        in_channels (int): Cin.
        out_channels (int): Cout.
        feat_channels (int): F; 0 for a network that takes no image features.
        feat_proj_channels (int): Channels f is reduced to (1×1 conv) before
            concatenation.
        width (int): Channels of the hidden layers.
        num_layers (int): Convolutions in the stack (the 1×1 feature projection
            is not counted); ≥ 2.
        kernel_size (int): Kernel of the stacked convolutions (odd; 'same'
            padding).
        norm_cfg (dict | None): Norm after each hidden conv (mmcv's
            ``build_norm_layer`` config).
        act_cfg (dict | None): Activation after each hidden conv.
        zero_init_last (bool): Start the last conv at zero, so that the network
            first outputs 0 (used by C: the correction starts as "no change").
        init_cfg (dict | list, optional): MMEngine init config.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 feat_channels: int = 0,
                 feat_proj_channels: int = 32,
                 width: int = 64,
                 num_layers: int = 13,
                 kernel_size: int = 3,
                 norm_cfg: Optional[dict] = dict(type='BN'),
                 act_cfg: Optional[dict] = dict(type='ReLU'),
                 zero_init_last: bool = False,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_layers < 2:
            raise ValueError(
                f'{type(self).__name__}: num_layers must be ≥ 2, got '
                f'{num_layers}')
        if kernel_size % 2 != 1:
            raise ValueError(
                f'{type(self).__name__}: kernel_size must be odd, got '
                f'{kernel_size}')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.feat_channels = feat_channels
        self.zero_init_last = zero_init_last
        if feat_channels > 0:
            self.feat_proj = ConvModule(
                feat_channels,
                feat_proj_channels,
                1,
                norm_cfg=norm_cfg,
                act_cfg=act_cfg)
            stack_in = in_channels + feat_proj_channels
        else:
            self.feat_proj = None
            stack_in = in_channels
        pad = kernel_size // 2
        layers = []
        for i in range(num_layers - 1):
            layers.append(
                ConvModule(
                    stack_in if i == 0 else width,
                    width,
                    kernel_size,
                    padding=pad,
                    norm_cfg=norm_cfg,
                    act_cfg=act_cfg))
        self.layers = nn.Sequential(*layers)
        self.final = nn.Conv2d(width, out_channels, kernel_size, padding=pad)

    def init_weights(self) -> None:
        super().init_weights()
        if self.zero_init_last:
            nn.init.zeros_(self.final.weight)
            nn.init.zeros_(self.final.bias)

    def forward(self,
                heatmaps: Tensor,
                feats: Optional[Tensor] = None) -> Tensor:
        """
        Args:
            heatmaps (Tensor): (B, Cin, h, w)
            feats (Tensor, optional): (B, F, hf, wf); required iff
                ``feat_channels > 0``.

        Returns:
            Tensor: (B, Cout, h, w)
        """
        if heatmaps.shape[1] != self.in_channels:
            raise ValueError(
                f'{type(self).__name__}: expected {self.in_channels} '
                'heatmap channels, '
                f'got {heatmaps.shape[1]}')
        x = heatmaps
        if self.feat_proj is not None:
            if feats is None:
                raise ValueError(f'{type(self).__name__} was built with '
                                 f'feat_channels={self.feat_channels} '
                                 'and needs image features')
            f = self.feat_proj(feats)  # (B, feat_proj_channels, hf, wf)
            if f.shape[-2:] != heatmaps.shape[-2:]:
                f = F.interpolate(
                    f,
                    size=heatmaps.shape[-2:],
                    mode='bilinear',
                    align_corners=False)
            x = torch.cat([x, f], dim=1)  # (B, Cin + feat_proj_channels, h, w)
        return self.final(self.layers(x))  # (B, Cout, h, w)


@MODELS.register_module()
class SCAIPredictionNet(SCAIConvNet):
    """Φ: (H_A, H_B, H_C, f) of M chains → Ĥ_D.

    13 layers by default (the paper's depth).
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 num_layers: int = 13,
                 **kwargs) -> None:
        super().__init__(
            in_channels, out_channels, num_layers=num_layers, **kwargs)


@MODELS.register_module()
class SCAIFeedbackNet(SCAIConvNet):
    """Γ: (H_B, H_C, H_D, f) of M chains → Ĥ_A.

    13 layers by default (the paper: same structure as Φ).
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 num_layers: int = 13,
                 **kwargs) -> None:
        super().__init__(
            in_channels, out_channels, num_layers=num_layers, **kwargs)


@MODELS.register_module()
class SCAICorrectionNet(SCAIConvNet):
    """C: (Ĥ_D, e_s) of M chains → ΔH_D.

    7 layers by default (the paper's depth), no image features, and the last
    conv zero-initialised so that an untrained C leaves Φ's prediction
    unchanged.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 num_layers: int = 7,
                 feat_channels: int = 0,
                 zero_init_last: bool = True,
                 **kwargs) -> None:
        super().__init__(
            in_channels,
            out_channels,
            num_layers=num_layers,
            feat_channels=feat_channels,
            zero_init_last=zero_init_last,
            **kwargs)
