"""Drawing helpers (no registration): TokenPose's keypoint-token attention
maps."""
from .tokenpose_attention import (draw_attention_grid, keypoint_attention_maps,
                                  tokenpose_attention_grid)

__all__ = [
    'draw_attention_grid', 'keypoint_attention_maps',
    'tokenpose_attention_grid'
]
