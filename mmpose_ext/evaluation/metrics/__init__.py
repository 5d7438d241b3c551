"""Metrics registered into MMPose's ``METRICS``: box-normalised PCK, error and
left/right swap rate (top-down), and the same after OKS matching (bottom-
up)."""
from .matched_pose_metric import MatchedPoseMetric
from .pose_error_metric import BoxNormalizedPoseMetric

__all__ = ['BoxNormalizedPoseMetric', 'MatchedPoseMetric']
