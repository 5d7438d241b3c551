"""Coordinate classification with sine-encoded bins (SimCC, RTMO): DCC, the Laplace MLE loss, heads."""
from .dcc import DynamicCoordinateClassifier
from .mle_loss import CoordMLELoss
from .sine_cc_head import SineCoordClsHead

__all__ = ['DynamicCoordinateClassifier', 'CoordMLELoss', 'SineCoordClsHead']
