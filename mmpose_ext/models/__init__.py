from .common import LaplaceIntegralScorer, RLEFlowLoss
from .coord_cls import CoordMLELoss, DynamicCoordinateClassifier, SineCoordClsHead

__all__ = ["LaplaceIntegralScorer", "RLEFlowLoss", "CoordMLELoss", "DynamicCoordinateClassifier", "SineCoordClsHead"]
