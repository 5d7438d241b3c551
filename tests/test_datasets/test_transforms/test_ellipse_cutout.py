"""EllipseCutout (Poseur's HRNet-W48 recipe): the blanked pixels are exactly
the drawn ellipses, its sizes follow the official ``radius_factor · (1 + U(0,
1)) · W``, and the mean blanked fraction matches the value integrated from that
description."""
import numpy as np
import pytest
from mmpose.registry import TRANSFORMS


def _run(transform, img, seed):
    np.random.seed(seed)
    return transform(dict(img=img))['img']


def test_blanks_exactly_the_drawn_ellipse():
    cut = TRANSFORMS.build(dict(type='EllipseCutout'))
    img = np.full((64, 48, 3), 200, dtype=np.uint8)
    np.random.seed(5)
    assert np.random.rand() < 1.0  # the prob draw
    centre = np.random.rand(1, 2) * (48, 64)
    radii = 0.2 * (1 + np.random.rand(1, 2)) * 48
    out = _run(cut, img, 5)
    ys, xs = np.mgrid[0:64, 0:48]
    inside = ((xs - centre[0, 0]) / radii[0, 0])**2 + (
        (ys - centre[0, 1]) / radii[0, 1])**2 <= 1
    assert inside.any() and (~inside).any()
    assert (out[inside] == 0).all() and (out[~inside] == 200).all()
    assert (img == 200).all()  # the input array is not modified
    # semi-axes between 0.2·W and 0.4·W, both scaled by the width
    assert 0.2 * 48 <= radii.min() and radii.max() <= 0.4 * 48


def test_prob_zero_keeps_the_image_and_fill_is_used():
    img = np.random.RandomState(0).randint(0, 255,
                                           (32, 24, 3)).astype(np.uint8)
    assert np.array_equal(
        _run(TRANSFORMS.build(dict(type='EllipseCutout', prob=0.0)), img, 1),
        img)
    out = _run(
        TRANSFORMS.build(dict(type='EllipseCutout', fill=7)),
        np.zeros((32, 24), np.uint8), 1)
    assert set(np.unique(out)) == {0, 7}


def test_mean_blanked_fraction_matches_the_description():
    """E[blanked fraction] estimated two ways: the transform on many images,
    and a Monte Carlo of the description (ellipse area clipped to the crop)
    drawn with another generator."""
    H, W = 64, 48
    cut = TRANSFORMS.build(dict(type='EllipseCutout'))
    img = np.ones((H, W), np.uint8)
    np.random.seed(0)
    frac = np.mean([1 - cut(dict(img=img))['img'].mean() for _ in range(400)])
    rng = np.random.default_rng(1)
    ys, xs = np.mgrid[0:H, 0:W]
    expected = []
    for _ in range(400):
        cx, cy = rng.random() * W, rng.random() * H
        rx, ry = 0.2 * (1 + rng.random(2)) * W
        expected.append((((xs - cx) / rx)**2 + ((ys - cy) / ry)**2
                         <= 1).mean())
    # ≈ 0.3 of the crop
    assert frac == pytest.approx(np.mean(expected), abs=0.02)


def test_bad_arguments():
    with pytest.raises(ValueError, match='prob'):
        TRANSFORMS.build(dict(type='EllipseCutout', prob=1.5))
    with pytest.raises(ValueError, match='radius_factor'):
        TRANSFORMS.build(dict(type='EllipseCutout', radius_factor=0))
