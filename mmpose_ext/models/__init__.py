from .common import LaplaceIntegralScorer, RLEFlowLoss
from .scai import (SCAICorrectionLoss, SCAICorrectionNet, SCAIFeedbackNet, SCAIHeatmapLoss, SCAIPoseEstimator,
                   SCAIPredictionNet)
from .tokenpose import TokenPoseHead, TokenPoseStem

__all__ = [
    'LaplaceIntegralScorer', 'RLEFlowLoss', 'SCAICorrectionLoss', 'SCAICorrectionNet', 'SCAIFeedbackNet',
    'SCAIHeatmapLoss', 'SCAIPoseEstimator', 'SCAIPredictionNet', 'TokenPoseHead', 'TokenPoseStem'
]
