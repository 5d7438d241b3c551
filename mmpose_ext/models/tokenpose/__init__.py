"""TokenPose (Li et al., ICCV 2021): the keypoint-token head and TokenPose-S's CNN stem."""
from .tokenpose_head import TokenPoseHead
from .tokenpose_stem import TokenPoseStem
from .transformer import TokenAttention, TokenPoseEncoderLayer, TokenPoseTransformer

__all__ = ['TokenPoseHead', 'TokenPoseStem', 'TokenAttention', 'TokenPoseEncoderLayer', 'TokenPoseTransformer']
