from .backbones import EfficientNetLite
from .common import EMSDA, Float32RLEHead, LaplaceIntegralScorer, RLEFlowLoss
from .coord_cls import (CoordMLELoss, DynamicCoordinateClassifier,
                        RTMOSineCCHead, SineCoordClsHead)
from .poseur import PoseurHead
from .scai import (SCAICorrectionLoss, SCAICorrectionNet, SCAIFeedbackNet,
                   SCAIHeatmapLoss, SCAIPoseEstimator, SCAIPredictionNet)
from .tokenpose import (TokenPoseHead, TokenPoseImageInput, TokenPoseLHead,
                        TokenPoseStem)

__all__ = [
    'CoordMLELoss', 'DynamicCoordinateClassifier', 'EfficientNetLite', 'EMSDA',
    'Float32RLEHead', 'LaplaceIntegralScorer', 'PoseurHead', 'RLEFlowLoss',
    'RTMOSineCCHead', 'SCAICorrectionLoss', 'SCAICorrectionNet',
    'SCAIFeedbackNet', 'SCAIHeatmapLoss', 'SCAIPoseEstimator',
    'SCAIPredictionNet', 'SineCoordClsHead', 'TokenPoseHead',
    'TokenPoseImageInput', 'TokenPoseLHead', 'TokenPoseStem'
]
