"""Coordinate classification with sine-encoded bins (SimCC, RTMO): DCC, the
Laplace MLE loss, a top-down head and a one-stage (RTMO-style) head."""
from .dcc import DynamicCoordinateClassifier
from .mle_loss import CoordMLELoss
from .rtmo_sine_cc_head import RTMOSineCCHead
from .sine_cc_head import SineCoordClsHead

__all__ = [
    'DynamicCoordinateClassifier', 'CoordMLELoss', 'SineCoordClsHead',
    'RTMOSineCCHead'
]
