from .common import LaplaceIntegralScorer, RLEFlowLoss
from .scai import (SCAICorrectionLoss, SCAICorrectionNet, SCAIFeedbackNet, SCAIHeatmapLoss, SCAIPoseEstimator,
                   SCAIPredictionNet)

__all__ = [
    "LaplaceIntegralScorer", "RLEFlowLoss", "SCAICorrectionLoss", "SCAICorrectionNet", "SCAIFeedbackNet",
    "SCAIHeatmapLoss", "SCAIPoseEstimator", "SCAIPredictionNet"
]
