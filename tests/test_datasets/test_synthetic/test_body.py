"""The body model: segment lengths equal the proportions, sides and bending
directions are anatomical, and every sampled pose respects the joint limits."""
import numpy as np
import pytest

from mmpose_ext.datasets.synthetic.body import (INDEX, LIMITS, PROPORTIONS,
                                                SIDED, check_pose,
                                                forward_kinematics,
                                                sample_pose,
                                                sample_proportions)


def neutral_pose(**overrides):
    pose = {'yaw': 0.0}
    for name in LIMITS:
        for prefix in (('left_', 'right_') if name in SIDED else ('', )):
            pose[prefix + name] = 0.0
    pose.update(overrides)
    return pose


def dist(points, a, b):
    return float(np.linalg.norm(points[INDEX[a]] - points[INDEX[b]]))


def test_segment_lengths_equal_proportions():
    rng = np.random.default_rng(3)
    for _ in range(5):
        props = sample_proportions(rng)
        pts = forward_kinematics(props, sample_pose(rng)).points
        for side in ('left', 'right'):
            assert dist(pts, f'{side}_shoulder',
                        f'{side}_elbow') == pytest.approx(props['upper_arm'])
            assert dist(pts, f'{side}_elbow',
                        f'{side}_wrist') == pytest.approx(props['forearm'])
            assert dist(pts, f'{side}_hip',
                        f'{side}_knee') == pytest.approx(props['thigh'])
            assert dist(pts, f'{side}_knee',
                        f'{side}_ankle') == pytest.approx(props['shank'])
        assert dist(pts, 'left_hip',
                    'right_hip') == pytest.approx(2 * props['hip_half'])


def test_neutral_pose_stands_upright_facing_the_camera():
    pts = forward_kinematics(dict(PROPORTIONS), neutral_pose()).points
    # Standing height: ankles at -(thigh + shank) below the pelvis, top of head
    # near +0.47 (Drillis-Contini: hip joint at 0.53 H, so ankle-to-head-top
    # ~0.96 H).
    span = pts[INDEX['top_head'], 1] - pts[INDEX['left_ankle'], 1]
    assert span == pytest.approx(
        0.30 + 0.05 + 2 * 0.062 + 0.245 + 0.246, abs=1e-9)
    # figure's left is +x
    assert pts[INDEX['left_shoulder'], 0] > 0 > pts[INDEX['right_shoulder'], 0]
    # the face looks at the camera (+z)
    assert pts[INDEX['nose'], 2] > pts[INDEX['head_centre'], 2]


def test_knee_bends_backwards_and_elbow_forwards():
    pts = forward_kinematics(
        dict(PROPORTIONS),
        neutral_pose(left_knee_flex=90.0, left_elbow_flex=90.0)).points
    knee, ankle = pts[INDEX['left_knee']], pts[INDEX['left_ankle']]
    # straight back
    assert ankle[2] - knee[2] == pytest.approx(-PROPORTIONS['shank'])
    elbow, wrist = pts[INDEX['left_elbow']], pts[INDEX['left_wrist']]
    # straight forward
    assert wrist[2] - elbow[2] == pytest.approx(PROPORTIONS['forearm'])


def test_yaw_180_shows_the_back():
    pts = forward_kinematics(dict(PROPORTIONS), neutral_pose(yaw=180.0)).points
    # the figure's left is now on the image's left
    assert pts[INDEX['left_shoulder'], 0] < 0
    assert pts[INDEX['nose'], 2] < pts[INDEX['head_centre'], 2]


def test_sampled_poses_are_within_limits_and_limits_are_enforced():
    rng = np.random.default_rng(0)
    for _ in range(200):
        check_pose(sample_pose(rng))
    with pytest.raises(ValueError, match='left_knee_flex'):
        forward_kinematics(
            dict(PROPORTIONS), neutral_pose(left_knee_flex=-10.0))


def test_most_figures_face_the_camera_as_in_photographs():
    """The yaw prior: about 80 % of the figures show their face-side (|yaw| <
    90°), all yaws occur."""
    rng = np.random.default_rng(0)
    yaws = np.array([sample_pose(rng)['yaw'] for _ in range(4000)])
    assert ((yaws >= 0) & (yaws < 360)).all()
    facing = (yaws < 90) | (yaws > 270)
    assert 0.75 < facing.mean() < 0.85
    # back views still occur
    assert ((yaws > 150) & (yaws < 210)).mean() > 0.03
