"""Elliptic cutout of the cropped person image, as Poseur's HRNet-W48 recipe
uses it.

`AID: Pushing the Performance Boundary of Human Pose Estimation with
Information Dropping Augmentation` (Huang et al., arXiv:2008.07139) drops
information by blanking image regions; `Poseur` (Mao et al., ECCV 2022) trains
its HRNet-W48 384×288 model with such a cutout after the affine crop. The
parameters follow the official Poseur pipeline (its ``Cutout`` with the
defaults its config uses): with probability ``prob``, ``num_patches`` ellipses
are set to 0, each centred uniformly in the crop, with semi-axes
``radius_factor · (1 + u) · W`` for independent ``u ~ U(0, 1)`` per axis, where
W is the crop's width (both axes scale with the width). Written here from that
description.
"""
from typing import Dict

import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmpose.registry import TRANSFORMS


@TRANSFORMS.register_module()
class EllipseCutout(BaseTransform):
    """Blank elliptic patches of ``results['img']`` (after ``TopdownAffine``).

    Required keys: ``img`` (H, W, C) or (H, W). Modified keys: ``img`` (a copy;
    the input array is kept).

    Args:
        prob (float): Probability of cutting at all (official: 1.0).
        radius_factor (float): Semi-axes are
            ``radius_factor · (1 + U(0, 1)) · W`` (official: 0.2).
        num_patches (int): Ellipses per image (official: 1).
        fill (float): Value written into the ellipses (official: 0, black
            before normalisation).
    """

    def __init__(self,
                 prob: float = 1.0,
                 radius_factor: float = 0.2,
                 num_patches: int = 1,
                 fill: float = 0.) -> None:
        if not 0 <= prob <= 1:
            raise ValueError(
                f'EllipseCutout: prob must be in [0, 1], got {prob}')
        if radius_factor <= 0 or num_patches < 1:
            raise ValueError(
                'EllipseCutout: radius_factor must be > 0 and num_patches '
                '>= 1, got '
                f'{radius_factor} and {num_patches}')
        self.prob = prob
        self.radius_factor = radius_factor
        self.num_patches = num_patches
        self.fill = fill

    @cache_randomness
    def _ellipses(self, height: int, width: int) -> np.ndarray:
        """(num_patches, 4) rows of centre x, centre y, semi-axis x, semi-axis
        y in pixels; empty when the draw against ``prob`` says no cut."""
        if np.random.rand() >= self.prob:
            return np.zeros((0, 4))
        centres = np.random.rand(self.num_patches, 2) * (width, height)
        radii = self.radius_factor * (
            1 + np.random.rand(self.num_patches, 2)) * width
        return np.concatenate([centres, radii], 1)

    def transform(self, results: Dict) -> Dict:
        img = results['img']
        height, width = img.shape[:2]
        ellipses = self._ellipses(height, width)
        if len(ellipses):
            # pixel centres at integer coordinates
            ys, xs = np.mgrid[0:height, 0:width]
            inside = np.zeros((height, width), dtype=bool)
            for cx, cy, rx, ry in ellipses:
                inside |= ((xs - cx) / rx)**2 + ((ys - cy) / ry)**2 <= 1
            img = img.copy()
            img[inside] = self.fill
            results['img'] = img
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(prob={self.prob}, '
                f'radius_factor={self.radius_factor}, '
                f'num_patches={self.num_patches}, fill={self.fill})')
