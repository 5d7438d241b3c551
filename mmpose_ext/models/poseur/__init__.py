"""Poseur (Mao et al., ECCV 2022): coarse RLE stage, keypoint encoder, EMSDA
query decoder."""
from .coarse_stage import CoarseStage, NormInputLinear
from .keypoint_encoder import KeypointEncoder, sine_encode_points
from .noisy_reference import NoisyReferenceSampler
from .poseur_head import PoseurHead
from .query_decoder import (PoseurDecoderLayer, PoseurQueryDecoder,
                            inverse_sigmoid)

__all__ = [
    'CoarseStage', 'KeypointEncoder', 'NoisyReferenceSampler',
    'NormInputLinear', 'PoseurDecoderLayer', 'PoseurHead',
    'PoseurQueryDecoder', 'inverse_sigmoid', 'sine_encode_points'
]
