"""Metrics registered into MMPose's ``METRICS``: box-normalised PCK, error and
left/right swap rate."""
from .pose_error_metric import BoxNormalizedPoseMetric

__all__ = ['BoxNormalizedPoseMetric']
