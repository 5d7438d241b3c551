"""Data transforms of mmpose_ext, registered in MMPose's ``TRANSFORMS``."""
from .ellipse_cutout import EllipseCutout

__all__ = ['EllipseCutout']
