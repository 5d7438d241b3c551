from .common import LaplaceIntegralScorer, RLEFlowLoss
from .tokenpose import TokenPoseHead, TokenPoseStem

__all__ = ["LaplaceIntegralScorer", "RLEFlowLoss", "TokenPoseHead", "TokenPoseStem"]
