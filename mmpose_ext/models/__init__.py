from .common import EMSDA, LaplaceIntegralScorer, RLEFlowLoss
from .poseur import PoseurHead

__all__ = ["EMSDA", "LaplaceIntegralScorer", "PoseurHead", "RLEFlowLoss"]
