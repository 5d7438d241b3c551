"""TokenPose (Li et al., ICCV 2021): the keypoint-token head, TokenPose-L's
fused-token head, TokenPose-S's CNN stem and TokenPose-T's pass-through image
input."""
from .image_input import TokenPoseImageInput
from .tokenpose_head import TokenPoseHead
from .tokenpose_l_head import TokenPoseLHead
from .tokenpose_stem import TokenPoseStem
from .transformer import (TokenAttention, TokenPoseEncoderLayer,
                          TokenPoseTransformer)

__all__ = [
    'TokenPoseHead', 'TokenPoseLHead', 'TokenPoseImageInput', 'TokenPoseStem',
    'TokenAttention', 'TokenPoseEncoderLayer', 'TokenPoseTransformer'
]
