from .common import LaplaceIntegralScorer, RLEFlowLoss

__all__ = ["LaplaceIntegralScorer", "RLEFlowLoss"]
