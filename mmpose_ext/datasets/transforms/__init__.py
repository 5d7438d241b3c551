"""Data transforms of mmpose_ext, registered in MMPose's ``TRANSFORMS``."""
from .clipped_normal_bbox import ClippedNormalBBoxTransform
from .ellipse_cutout import EllipseCutout

__all__ = ['ClippedNormalBBoxTransform', 'EllipseCutout']
