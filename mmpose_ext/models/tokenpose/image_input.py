"""The "backbone" of TokenPose-T (`TokenPose`, Li et al., ICCV 2021, Table 1:
the pure-transformer variant):

none. TokenPose-T cuts the normalised input image itself into 16×12 patches
(RGB, 3·16·12 = 576 values each) and :class:`TokenPoseHead` embeds them with
its Linear, as the official ``TokenPose_TB_base`` does with ``feature_size`` =
image size and ``channels=3``. MMPose's ``TopdownPoseEstimator`` needs a
backbone whose output is a tuple of feature maps: this one passes the image
through as ``(image, )``.
"""
from typing import Tuple

from mmengine.model import BaseModule
from mmpose.registry import MODELS
from torch import Tensor


@MODELS.register_module()
class TokenPoseImageInput(BaseModule):
    """Identity backbone: ``forward(x)`` returns ``(x, )``, x the (B, 3, H, W)
    normalised image.

    No parameters.
    """

    def forward(self, x: Tensor) -> Tuple[Tensor]:
        """Args: x (B, C, H, W). Returns: ((B, C, H, W), )."""
        return (x, )
