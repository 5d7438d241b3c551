"""A regression codec whose keypoint scores are Poseur's Laplace integral
instead of RLE's ``1 − mean(σ)``.

MMPose's ``RLEHead`` hands its decoder (N, 1, K, 4) outputs ``[x, y, σx, σy]``
(σ after sigmoid, in normalised units) and takes keypoints and scores back.
Swapping the codec in a config is therefore all it takes to score with
:class:`~mmpose_ext.models.common.LaplaceIntegralScorer` — no head subclass::

    codec = dict(type='LaplaceRegressionLabel', input_size=(192, 256),
                 radius=0.2, weight=1.0)

Encoding is MMPose's ``RegressionLabel`` unchanged (targets normalised by the
input size).
"""
from typing import Tuple

import numpy as np
import torch
from mmpose.codecs import RegressionLabel
from mmpose.registry import KEYPOINT_CODECS

from ..models.common.finite import check_finite
from ..models.common.laplace_scorer import LaplaceIntegralScorer


@KEYPOINT_CODECS.register_module()
class LaplaceRegressionLabel(RegressionLabel):
    """``RegressionLabel`` that scores keypoints with the Laplace integral of
    their σ.

    Args:
        input_size (tuple): Input image size (w, h).
        radius (float): Half-width of the interval, in normalised units
            (Poseur: 0.2).
        weight (float): Multiplier of the score (Poseur reports with 0.7 folded
            into its fusion; 1.0 keeps scores in [0, 1]).
    """

    def __init__(self,
                 input_size: Tuple[int, int],
                 radius: float = 0.2,
                 weight: float = 1.0) -> None:
        super().__init__(input_size=input_size)
        self.scorer = LaplaceIntegralScorer(radius=radius, weight=weight)

    def decode(self, encoded: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Decode normalised coordinates and σ.

        Args:
            encoded (np.ndarray): (N, K, 4) as ``[x, y, σx, σy]`` with σ > 0 (a
                model without σ, i.e. (N, K, 2), is an error: the score needs
                σ).

        Returns:
            tuple: keypoints (N, K, 2) in input-image pixels and scores (N, K).
        """
        if encoded.shape[-1] != 4:
            raise ValueError(
                'LaplaceRegressionLabel needs σ: expected (N, K, 4) = [x, '
                'y, σx, σy], got '
                f'{encoded.shape}. Use RegressionLabel for heads without σ.')
        # MMPose's RLEHead hands its output here unchecked: a NaN input would
        # score AP 0 without a word
        check_finite(
            {
                'coordinates':
                torch.from_numpy(np.ascontiguousarray(encoded[..., :2])),
                'sigma':
                torch.from_numpy(np.ascontiguousarray(encoded[..., 2:4]))
            },
            'LaplaceRegressionLabel.decode',
            what='prediction',
            hint=
            'The head that produced it (e.g. RLEHead) output NaN/Inf: check '
            'the input images.')
        keypoints, _ = super().decode(encoded[..., :2])
        sigma = torch.from_numpy(
            np.ascontiguousarray(encoded[..., 2:4], dtype=np.float32))
        scores = self.scorer(sigma).numpy()  # (N, K)
        return keypoints, scores
