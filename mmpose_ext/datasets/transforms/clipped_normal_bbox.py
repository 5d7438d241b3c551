"""Random box scale and rotation drawn from a clipped normal, as the official
top-down loaders of Poseur and TokenPose draw them.

The box augmentation of `Simple Baselines for Human Pose Estimation and
Tracking` (Xiao et al., ECCV 2018) and HRNet (Sun et al., CVPR 2019), which
`Poseur: Direct Human Pose Regression with Transformers` (Mao et al., ECCV
2022; MMPose 0.x ``TopDownGetRandomScaleRotation``) and `TokenPose: Learning
Keypoint Tokens for Human Pose Estimation` (Li et al., ICCV 2021; HRNet's
``JointsDataset``) train with. Per box, with the official scale factor ``sf``
and rotation factor ``rf``:

    scale    s · clip(1 + sf·z₁, 1 − sf, 1 + sf),        z₁ ~ N(0, 1)
    rotation clip(rf·z₂, −2·rf, 2·rf) with probability 0.6, else 0

MMPose 1.x's ``RandomBBoxTransform`` draws a normal *truncated* to its range
(``truncnorm(−1, 1)`` times the half-width) instead: the same support, another
distribution. Clipping puts the tails' mass on the bounds (P(|z| > 1) = 0.317
of the scales sit exactly at 1 ± sf) and keeps the normal's shape inside, so
e.g. for TokenPose (sf 0.35, rf 45) P(|rotation| > 45°) is 0.19 officially and
0.26 with the truncated normal on ±90°, P(|s − 1| > 0.175) 0.62 officially and
0.44 truncated. Written here from that description.
"""
from typing import Tuple

import numpy as np
from mmcv.transforms.utils import cache_randomness
from mmpose.datasets.transforms import RandomBBoxTransform
from mmpose.registry import TRANSFORMS


@TRANSFORMS.register_module()
class ClippedNormalBBoxTransform(RandomBBoxTransform):
    """Shift, rescale and rotate the boxes; scale and rotation from a clipped
    normal (the official Poseur/TokenPose loaders), the shift as MMPose's
    ``RandomBBoxTransform``.

    Note:
        - boxes: N

    Required keys: ``bbox_center`` (N, 2), ``bbox_scale`` (N, 2). Modified
    keys: ``bbox_center``, ``bbox_scale``. Added key: ``bbox_rotation`` (N,),
    degrees.

    Per box (one draw for both sides of the box):

    - scale factor ``clip(1 + scale_sigma·z, 1 − c_s, 1 + c_s)`` with
      ``c_s = scale_clip·scale_sigma``, applied with probability
      ``scale_prob`` (else 1);
    - rotation ``clip(rotate_sigma·z, −c_r, c_r)`` degrees with
      ``c_r = rotate_clip·rotate_sigma``, applied with probability
      ``rotate_prob`` (else 0);
    - shift MMPose's: ``truncnorm(−1, 1)·shift_factor`` times the box size
      per axis, with probability ``shift_prob`` (else 0).

    The arguments are named after what they are (a normal's σ, a clip in σ),
    not after MMPose's ``scale_factor``/``rotate_factor`` (a range), so a
    config written for ``RandomBBoxTransform`` fails to build instead of
    meaning something else. The inherited ``scale_factor`` and
    ``rotate_factor`` attributes hold the support in MMPose's terms.

    Args:
        scale_sigma (float): σ of the scale factor, the official
            ``scale_factor`` (Poseur 0.5, TokenPose 0.35).
        rotate_sigma (float): σ of the rotation in degrees, the official
            ``rot_factor`` (Poseur 40, TokenPose 45).
        scale_clip (float): Clip of the scale factor in σ (official: 1).
        rotate_clip (float): Clip of the rotation in σ (official: 2).
        scale_prob (float): Probability of rescaling (official: 1).
        rotate_prob (float): Probability of rotating (official: 0.6).
        shift_factor (float): MMPose's: the shift's range in box sizes.
        shift_prob (float): Probability of shifting (official: 0, no shift).
    """

    # cache_randomness records the decorated methods in the class's list: this
    # class gets its own, so the override is not added to
    # RandomBBoxTransform's list a second time (cache_random_params would then
    # count one call as two)
    _methods_with_randomness: list = []

    def __init__(self,
                 scale_sigma: float = 0.5,
                 rotate_sigma: float = 40.,
                 scale_clip: float = 1.,
                 rotate_clip: float = 2.,
                 scale_prob: float = 1.,
                 rotate_prob: float = 0.6,
                 shift_factor: float = 0.16,
                 shift_prob: float = 0.) -> None:
        name = type(self).__name__
        non_negative = dict(
            scale_sigma=scale_sigma,
            rotate_sigma=rotate_sigma,
            scale_clip=scale_clip,
            rotate_clip=rotate_clip,
            shift_factor=shift_factor)
        for arg, value in non_negative.items():
            if not value >= 0:
                raise ValueError(f'{name}: {arg} must be >= 0, got {value}')
        probabilities = dict(
            scale_prob=scale_prob,
            rotate_prob=rotate_prob,
            shift_prob=shift_prob)
        for arg, value in probabilities.items():
            if not 0 <= value <= 1:
                raise ValueError(
                    f'{name}: {arg} must be in [0, 1], got {value}')
        if scale_clip * scale_sigma >= 1:
            raise ValueError(
                f'{name}: scale_clip * scale_sigma must be < 1 (the smallest '
                f'scale factor 1 - {scale_clip * scale_sigma} would not be '
                'positive)')
        half = scale_clip * scale_sigma
        super().__init__(
            shift_factor=shift_factor,
            shift_prob=shift_prob,
            scale_factor=(1 - half, 1 + half),
            scale_prob=scale_prob,
            rotate_factor=rotate_clip * rotate_sigma,
            rotate_prob=rotate_prob)
        self.scale_sigma = scale_sigma
        self.rotate_sigma = rotate_sigma
        self.scale_clip = scale_clip
        self.rotate_clip = rotate_clip

    @cache_randomness
    def _get_transform_params(self, num_bboxes: int) -> Tuple:
        """Random parameters of N boxes.

        Returns:
            tuple of float32 arrays:
            - offset (N, 2): shift in box sizes,
            - scale (N, 1): scale factor,
            - rotate (N,): rotation in degrees.
        """
        n = num_bboxes
        if self.shift_prob > 0:
            offset = self._truncnorm(size=(n, 2)) * self.shift_factor
            offset = np.where(
                np.random.rand(n, 1) < self.shift_prob, offset, 0.)
        else:
            offset = np.zeros((n, 2))
        low, high = self.scale_factor
        scale = np.clip(1 + np.random.randn(n, 1) * self.scale_sigma, low,
                        high)
        scale = np.where(np.random.rand(n, 1) < self.scale_prob, scale, 1.)
        limit = self.rotate_factor
        rotate = np.clip(np.random.randn(n) * self.rotate_sigma, -limit, limit)
        rotate = np.where(np.random.rand(n) < self.rotate_prob, rotate, 0.)
        return (offset.astype(np.float32), scale.astype(np.float32),
                rotate.astype(np.float32))

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(scale_sigma={self.scale_sigma}, '
                f'scale_clip={self.scale_clip}, '
                f'scale_prob={self.scale_prob}, '
                f'rotate_sigma={self.rotate_sigma}, '
                f'rotate_clip={self.rotate_clip}, '
                f'rotate_prob={self.rotate_prob}, '
                f'shift_factor={self.shift_factor}, '
                f'shift_prob={self.shift_prob})')
