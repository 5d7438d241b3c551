"""Datasets of mmpose_ext: the synthetic human-figure generator, and the annotation checks
(``AnnotationCheckHook``, registered in MMPose's ``HOOKS``)."""
from .checks import AnnotationCheckHook, AnnotationError, check_annotations

__all__ = ['AnnotationCheckHook', 'AnnotationError', 'check_annotations']
