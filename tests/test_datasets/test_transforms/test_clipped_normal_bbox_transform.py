"""ClippedNormalBBoxTransform draws the official Poseur/TokenPose box scale and
rotation: s·clip(1 + sf·z, 1 − sf, 1 + sf) and, with probability 0.6,
clip(rf·z, −2rf, 2rf).

20000 boxes per case, fixed seed; the official probabilities are stated as
numbers (normal tail masses), and MMPose's truncated-normal
``RandomBBoxTransform`` on the same support is sampled next to it to show what
the swap changes.
"""
import numpy as np
import pytest
from mmcv.transforms.utils import cache_random_params
from mmpose.datasets.transforms import RandomBBoxTransform
from mmpose.registry import TRANSFORMS

from mmpose_ext.datasets.transforms import ClippedNormalBBoxTransform

N = 20000
# binomial standard error at 20000 draws is <= 0.0036: 0.012 is > 3 SE
TOL = 0.012


def _sample(cfg, seed=0, n=N):
    """(centre shift in box sizes (n, 2), scale factor (n,), rotation (n,)) of
    n boxes, one call as in a pipeline."""
    transform = TRANSFORMS.build(cfg)
    centers = np.tile(np.array([[100., 80.]], dtype=np.float32), (n, 1))
    scales = np.tile(np.array([[120., 160.]], dtype=np.float32), (n, 1))
    np.random.seed(seed)
    out = transform(dict(bbox_center=centers.copy(), bbox_scale=scales.copy()))
    factor = out['bbox_scale'] / scales
    # one factor for both sides of the box
    np.testing.assert_allclose(factor[:, 0], factor[:, 1], rtol=1e-6)
    return ((out['bbox_center'] - centers) / scales, factor[:, 0],
            out['bbox_rotation'])


def test_registered_under_its_own_name():
    assert TRANSFORMS.get('ClippedNormalBBoxTransform') is (
        ClippedNormalBBoxTransform)
    assert issubclass(ClippedNormalBBoxTransform, RandomBBoxTransform)
    # MMPose's own transform is untouched
    assert TRANSFORMS.get('RandomBBoxTransform') is RandomBBoxTransform
    assert RandomBBoxTransform._methods_with_randomness.count(
        '_get_transform_params') == 1


@pytest.mark.parametrize(
    'sf, rf', [(0.35, 45.), (0.5, 40.)], ids=['tokenpose', 'poseur'])
def test_official_clipped_normal(sf, rf):
    shift, s, r = _sample(
        dict(
            type='ClippedNormalBBoxTransform', scale_sigma=sf,
            rotate_sigma=rf))
    # support: [1 - sf, 1 + sf] and [-2 rf, 2 rf]; no shift (official)
    assert (shift == 0).all()
    lo, hi = np.float32(1 - sf), np.float32(1 + sf)
    assert lo <= s.min() and s.max() <= hi
    assert np.abs(r).max() <= 2 * rf
    # P(|s - 1| > sf / 2) = P(|z| > 0.5) = 0.617
    assert abs(np.mean(np.abs(s - 1) > sf / 2) - 0.617) < TOL
    # the clipped tails sit on the bounds: P(|z| > 1) = 0.317
    assert abs(np.mean((s == lo) | (s == hi)) - 0.317) < TOL
    # rotation applied with p 0.6, P(|r| > rf) = 0.6 P(|z| > 1) = 0.190,
    # P(|r| = 2 rf) = 0.6 P(|z| > 2) = 0.0273
    assert abs(np.mean(r != 0) - 0.6) < TOL
    assert abs(np.mean(np.abs(r) > rf) - 0.190) < TOL
    assert abs(np.mean(np.abs(r) == np.float32(2 * rf)) - 0.0273) < 0.005
    # rotated std rf·sqrt(E min(z², 4)) = 0.9595 rf (43.2° at rf = 45)
    assert np.std(r[r != 0]) == pytest.approx(0.9595 * rf, rel=0.02)


def test_mmpose_truncated_normal_on_the_same_support_differs():
    """TokenPose's previous config: MMPose's RandomBBoxTransform on the
    official support draws P(|r| > 45°) = 0.6·0.439 = 0.263 (official 0.190)
    and P(|s − 1| > 0.175) = 0.439 (official 0.617), with no atoms."""
    _, s, r = _sample(
        dict(
            type='RandomBBoxTransform',
            shift_prob=0.,
            scale_factor=(0.65, 1.35),
            rotate_factor=90.,
            rotate_prob=0.6))
    assert abs(np.mean(np.abs(r) > 45) - 0.263) < TOL
    assert abs(np.mean(np.abs(s - 1) > 0.175) - 0.439) < TOL
    _, s_off, r_off = _sample(
        dict(
            type='ClippedNormalBBoxTransform',
            scale_sigma=0.35,
            rotate_sigma=45.))
    assert np.mean(np.abs(r_off) > 45) < np.mean(np.abs(r) > 45) - 0.05
    assert np.mean(np.abs(s_off -
                          1) > 0.175) > np.mean(np.abs(s - 1) > 0.175) + 0.15


def test_shift_is_mmposes():
    """The shift keeps MMPose's truncated normal: within ±shift_factor box
    sizes per axis, P(|offset| > shift_factor / 2) = P(|z| > 0.5 | |z| < 1) =
    0.439, applied with probability shift_prob."""
    shift, _, _ = _sample(
        dict(
            type='ClippedNormalBBoxTransform',
            scale_sigma=0.35,
            rotate_sigma=45.,
            shift_factor=0.16,
            shift_prob=0.5))
    assert np.abs(shift).max() <= 0.16 + 1e-6
    moved = (shift != 0).any(1)
    assert abs(moved.mean() - 0.5) < TOL
    assert abs(np.mean(np.abs(shift[moved]) > 0.08) - 0.439) < TOL


def test_probabilities_and_clips_are_honoured():
    _, s, r = _sample(
        dict(
            type='ClippedNormalBBoxTransform',
            scale_sigma=0.25,
            rotate_sigma=30.,
            scale_clip=2.,
            rotate_clip=1.,
            scale_prob=0.5,
            rotate_prob=1.),
        n=4000)
    assert abs(np.mean(s == 1) - 0.5) < 0.03
    assert 0.5 <= s.min() and s.max() <= 1.5 and np.abs(r).max() <= 30
    assert np.mean(r != 0) == 1
    # clip at 1 σ: P(|z| > 1) = 0.317 of the rotations on ±30
    assert abs(np.mean(np.abs(r) == 30) - 0.317) < 0.03


def test_cached_parameters_repeat():
    transform = TRANSFORMS.build(
        dict(type='ClippedNormalBBoxTransform', scale_sigma=0.35))
    results = dict(
        bbox_center=np.array([[10., 20.]], dtype=np.float32),
        bbox_scale=np.array([[30., 40.]], dtype=np.float32))
    with cache_random_params(transform):
        first = transform(dict(results))
        second = transform(dict(results))
    for key in ('bbox_scale', 'bbox_rotation'):
        np.testing.assert_array_equal(first[key], second[key])


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match='scale_sigma'):
        ClippedNormalBBoxTransform(scale_sigma=-0.1)
    with pytest.raises(ValueError, match='rotate_prob'):
        ClippedNormalBBoxTransform(rotate_prob=1.5)
    with pytest.raises(ValueError, match='positive'):
        ClippedNormalBBoxTransform(scale_sigma=0.6, scale_clip=2.)
    # MMPose's argument names (a range, not a σ) do not build
    with pytest.raises(TypeError):
        ClippedNormalBBoxTransform(scale_factor=(0.5, 1.5))
    text = repr(ClippedNormalBBoxTransform(scale_sigma=0.35, rotate_sigma=45))
    assert 'scale_sigma=0.35' in text and 'rotate_sigma=45' in text
