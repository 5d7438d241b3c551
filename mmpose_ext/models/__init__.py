from .common import EMSDA, LaplaceIntegralScorer, RLEFlowLoss
from .poseur import PoseurHead
from .scai import (SCAICorrectionLoss, SCAICorrectionNet, SCAIFeedbackNet, SCAIHeatmapLoss, SCAIPoseEstimator,
                   SCAIPredictionNet)
from .tokenpose import TokenPoseHead, TokenPoseStem

__all__ = [
    'EMSDA', 'LaplaceIntegralScorer', 'PoseurHead', 'RLEFlowLoss', 'SCAICorrectionLoss', 'SCAICorrectionNet',
    'SCAIFeedbackNet', 'SCAIHeatmapLoss', 'SCAIPoseEstimator', 'SCAIPredictionNet', 'TokenPoseHead',
    'TokenPoseStem'
]
