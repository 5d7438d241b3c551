"""SCAI (Kan et al., CVPR 2023): kinematic chains, the Φ/Γ/C networks, their
losses, the estimator wrapper and test-time adaptation."""
from .adaptation import adapt_correction
from .chains import PRESETS, KinematicChains
from .evaluation import SCAIFeedbackMetric
from .losses import SCAICorrectionLoss, SCAIHeatmapLoss, heatmap_error
from .networks import (SCAIConvNet, SCAICorrectionNet, SCAIFeedbackNet,
                       SCAIPredictionNet)
from .scai_estimator import SCAIPoseEstimator

__all__ = [
    'KinematicChains', 'PRESETS', 'SCAIConvNet', 'SCAIPredictionNet',
    'SCAIFeedbackNet', 'SCAICorrectionNet', 'SCAIHeatmapLoss',
    'SCAICorrectionLoss', 'heatmap_error', 'SCAIPoseEstimator',
    'adapt_correction', 'SCAIFeedbackMetric'
]
