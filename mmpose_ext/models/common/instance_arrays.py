"""Reading MMPose's per-instance fields as numpy arrays.

MMPose's data samples hold keypoints, boxes and visibilities as numpy arrays,
tensors (possibly on a GPU) or lists, depending on where in the pipeline they
were made. Metrics and test-time tools read them through these two functions.
"""
from typing import Any

import numpy as np


def as_array(x: Any) -> np.ndarray:
    """A numpy array from a numpy array, a (possibly CUDA) tensor or a list."""
    if hasattr(x, 'detach'):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def visibility(keypoints_visible: Any) -> np.ndarray:
    """MMPose's ``keypoints_visible`` of one instance, (1, K) or (1, K, 2)
    (visibility, weight) → (K,) bool."""
    vis = as_array(keypoints_visible)
    # (1, K, 2): MMPose keeps (visibility, weight) pairs in some pipelines
    if vis.ndim == 3:
        vis = vis[..., 0]
    return vis.reshape(-1) > 0
