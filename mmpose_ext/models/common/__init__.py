"""Building blocks shared by several methods; they use nothing else of ours."""
from .emsda import EMSDA
from .finite import NonFiniteError, check_finite, check_head, check_instances
from .float32_rle_head import Float32RLEHead
from .laplace_scorer import LaplaceIntegralScorer
from .rle_flow_loss import RLEFlowLoss

__all__ = [
    'EMSDA', 'Float32RLEHead', 'LaplaceIntegralScorer', 'NonFiniteError',
    'RLEFlowLoss', 'check_finite', 'check_head', 'check_instances'
]
