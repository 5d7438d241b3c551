"""Evaluation that shows learning at small budgets: box-normalised metrics and
a no-skill baseline.

- ``BoxNormalizedPoseMetric`` (``METRICS``): bbox-normalised PCK, mean error
  per box size and the left/right swap rate of a top-down model, beside
  MMPose's ``CocoMetric``.
- ``MatchedPoseMetric`` (``METRICS``): the same numbers for a bottom-up model,
  each ground-truth person matched to one prediction by OKS, and the recall.
- ``MeanPoseBaseline`` (``MODELS``) and ``evaluate_no_skill``: the training
  set's mean pose placed in every test box, the number a model must beat to
  have learned anything from the image.
"""
from .metrics import BoxNormalizedPoseMetric, MatchedPoseMetric
from .no_skill import MeanPoseBaseline, compute_mean_pose, evaluate_no_skill

__all__ = [
    'BoxNormalizedPoseMetric', 'MatchedPoseMetric', 'MeanPoseBaseline',
    'compute_mean_pose', 'evaluate_no_skill'
]
