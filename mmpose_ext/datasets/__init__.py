"""Datasets of mmpose_ext: the synthetic human-figure generator, the annotation
checks (``AnnotationCheckHook``, registered in MMPose's ``HOOKS``) and data
transforms (``ClippedNormalBBoxTransform``, ``EllipseCutout``)."""
from .checks import AnnotationCheckHook, AnnotationError, check_annotations
from .transforms import ClippedNormalBBoxTransform, EllipseCutout

__all__ = [
    'AnnotationCheckHook', 'AnnotationError', 'check_annotations',
    'ClippedNormalBBoxTransform', 'EllipseCutout'
]
