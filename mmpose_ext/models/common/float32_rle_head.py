"""MMPose's ``RLEHead`` (Li et al., "Human Pose Regression with Residual Log-
likelihood Estimation", ICCV 2021) with its layers in float32 under autocast,
so that RLE and RLE-flow train under CPU bfloat16 autocast.

MMPose's ``RLEHead.loss`` computes its training accuracy with numpy
(``keypoint_pck_accuracy(to_numpy(...))``), and numpy has no bfloat16: under
CPU bf16 autocast the head's ``Linear`` outputs bf16 and the step stops with a
``TypeError`` after the loss. This head runs MMPose's own forward with autocast
off on float32 features: the backbone and neck keep autocast's precision, the
head (a global pool and one ``Linear``, a negligible share of the step) and
everything after it (loss, accuracy, decoding) see float32. Outside autocast it
is ``RLEHead`` exactly.
"""
from typing import Tuple

import torch
from mmpose.models.heads import RLEHead
from mmpose.registry import MODELS
from torch import Tensor


@MODELS.register_module()
class Float32RLEHead(RLEHead):
    """``RLEHead`` whose forward runs in float32 with autocast off.

    Takes ``RLEHead``'s arguments.
    """

    def forward(self, feats: Tuple[Tensor]) -> Tensor:
        """Multi-scale features → (B, K, 4) ``[x, y, σx, σy]`` as ``RLEHead``,
        float32 (features in a lower precision are cast up first)."""
        device = feats[-1].device.type
        with torch.autocast(device_type=device, enabled=False):
            return super().forward(
                tuple(f.float() if f.is_floating_point() else f
                      for f in feats))
