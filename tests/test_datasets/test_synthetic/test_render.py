"""Visibility is honest on a constructed scene: a keypoint covered by a figure
in front is 1, one outside the image is (0, 0, 0), the rest 2; boxes and areas
agree with the drawn pixels."""
import cv2
import numpy as np
import pytest

from mmpose_ext.datasets.synthetic.body import (INDEX, KEYPOINTS, PROPORTIONS,
                                                forward_kinematics)
from mmpose_ext.datasets.synthetic.render import (MAX_PARTS, Outfit, Placement,
                                                  project, render)
from .test_body import neutral_pose

OUTFIT = Outfit(
    colours=dict(
        skin=(150, 180, 230),
        hair=(20, 20, 20),
        shirt=(200, 0, 0),
        trousers=(0, 100, 0),
        shoes=(0, 0, 0)),
    textures=dict(
        skin='solid',
        hair='solid',
        shirt='stripes',
        trousers='checker',
        shoes='solid'))


def test_visibility_on_a_constructed_scene():
    # Two upright figures with arms spread 40 degrees; the back one (A) stands
    # low so that its ankles leave the 200x160 image; the front one (B) stands
    # with its chest (half-way up the spine) on A's left wrist.
    fig = forward_kinematics(
        dict(PROPORTIONS),
        neutral_pose(left_shoulder_abd=40.0, right_shoulder_abd=40.0))
    place_a = Placement(x=60.0, y=120.0, height=150.0)
    wrist_a = project(fig, place_a)[INDEX['left_wrist'], :2]
    place_b = Placement(
        x=float(wrist_a[0]),
        y=float(wrist_a[1]) + 0.5 * PROPORTIONS['spine'] * 150.0,
        height=150.0)
    bg = np.full((160, 200, 3), 127, np.uint8)
    img, part_map, (a, b) = render(
        160,
        200, [(fig, place_a, OUTFIT), (fig, place_b, OUTFIT)],
        np.random.default_rng(0),
        bg=bg)

    k = {name: i for i, name in enumerate(KEYPOINTS)}
    # Independent geometry: A's left wrist lies inside B's shoulder-hip
    # quadrilateral.
    pix_b = project(fig, place_b)
    quad = np.stack([
        pix_b[INDEX[n], :2]
        for n in ('left_shoulder', 'right_shoulder', 'right_hip', 'left_hip')
    ]).astype(np.float32)
    assert cv2.pointPolygonTest(quad, tuple(map(float, wrist_a)), False) > 0
    assert a.keypoints[k['left_wrist'], 2] == 1
    np.testing.assert_allclose(
        a.keypoints[k['left_wrist'], :2], wrist_a, atol=1e-4)
    # A's ankles project below the image: (0, 0, 0).
    assert project(fig, place_a)[INDEX['left_ankle'], 1] > 160
    assert (a.keypoints[k['left_ankle']]
            == 0).all() and (a.keypoints[k['right_ankle']] == 0).all()
    # A's face and right arm are clear of B: visible.
    for name in ('nose', 'left_eye', 'right_eye', 'right_shoulder',
                 'right_elbow', 'right_wrist'):
        assert a.keypoints[k[name], 2] == 2, name
    # B is in front of everything: every keypoint inside the image is visible,
    # the rest are (0, 0, 0).
    pix = pix_b[[INDEX[n] for n in KEYPOINTS], :2]
    inside = (np.round(pix) >= 0).all(1) & (np.round(pix[:, 0]) < 200) & (
        np.round(pix[:, 1]) < 160)
    assert inside.any() and not inside.all()
    np.testing.assert_array_equal(b.keypoints[:, 2], np.where(inside, 2, 0))
    # Area counts the pixels each figure shows on top; B's box covers all of
    # them.
    assert b.area == float((part_map // MAX_PARTS == 1).sum()) > 0
    assert a.area == float(
        ((part_map >= 0) & (part_map < MAX_PARTS)).sum()) > 0
    x, y, w, h = b.bbox
    ys, xs = np.nonzero(part_map // MAX_PARTS == 1)
    assert x <= xs.min() and xs.max() < x + w and y <= ys.min() and ys.max(
    ) < y + h
    assert (img[part_map == -1] == 127).all()  # background pixels untouched


def test_back_view_hides_the_face():
    fig = forward_kinematics(dict(PROPORTIONS), neutral_pose(yaw=180.0))
    _, _, (a, ) = render(
        200,
        120, [(fig, Placement(60.0, 110.0, 160.0), OUTFIT)],
        np.random.default_rng(0),
        bg=np.zeros((200, 120, 3), np.uint8))
    k = {name: i for i, name in enumerate(KEYPOINTS)}
    assert a.keypoints[k['nose'], 2] == 1 and a.keypoints[k['left_eye'],
                                                          2] == 1
    assert a.keypoints[k['left_shoulder'], 2] == 2


def _draw_alone(yaw: float, outfit: Outfit = OUTFIT):
    """One upright figure turned by ``yaw`` on a flat grey background; returns
    the image, the part map and the projected points (head radius about 10
    px)."""
    fig = forward_kinematics(dict(PROPORTIONS), neutral_pose(yaw=yaw))
    place = Placement(60.0, 110.0, 160.0)
    img, part_map, _ = render(
        200,
        120, [(fig, place, outfit)],
        np.random.default_rng(0),
        bg=np.full((200, 120, 3), 127, np.uint8))
    return img, part_map, project(fig, place)


def _dark_pixels(img, part_map, part):
    """Pixels of ``part`` (figure 0) much darker than the part's median: drawn
    features, not shading."""
    from mmpose_ext.datasets.synthetic.render import PART_INDEX

    lum = img.astype(np.float32).mean(axis=2)[part_map == PART_INDEX[part]]
    return int((lum < 0.55 * np.median(lum)).sum())


def test_the_face_is_drawn_on_the_front_of_the_head_only():
    """Eyes, brows and mouth make a frontal head unlike the back of one: dark
    features on the head's skin when the figure faces the camera, none when it
    turns away (the hair covers the head then)."""
    front_img, front_map, _ = _draw_alone(0.0)
    back_img, back_map, _ = _draw_alone(180.0)
    # two eyes and brows, the mouth
    assert _dark_pixels(front_img, front_map, 'head') >= 6
    from mmpose_ext.datasets.synthetic.render import PART_INDEX
    head_back = (back_map == PART_INDEX['head']).sum()
    assert _dark_pixels(back_img, back_map, 'head') <= max(1, head_back // 50)


def test_the_neckline_shows_on_the_chest_not_on_the_back():
    """The V-neck (skin colour inside the shirt's outline) is a front-of-body
    cue."""
    from mmpose_ext.datasets.synthetic.render import PART_INDEX

    def skin_on_torso(yaw):
        img, part_map, _ = _draw_alone(yaw, OUTFIT)
        torso = img[part_map == PART_INDEX['torso']].astype(np.float32)
        skin = np.array(OUTFIT.colours['skin'], np.float32)
        return int((np.abs(torso - skin).max(axis=1) < 40).sum())

    assert skin_on_torso(0.0) >= 20 and skin_on_torso(180.0) == 0


def test_volume_shading_is_brightest_on_the_medial_axis():
    from mmpose_ext.datasets.synthetic.render import volume_shading

    mask = np.zeros((21, 41), np.uint8)
    mask[5:16, :] = 1  # a horizontal bar 11 px tall
    shade = volume_shading(mask, light=0.4)
    assert shade[10,
                 20] == 1.0 and 0.6 <= shade[5, 20] < shade[7, 20] < shade[10,
                                                                           20]
    np.testing.assert_allclose(volume_shading(np.zeros((3, 3), np.uint8)), 1.0)


def test_shifted_appearance_is_dim_grey_and_blue():
    from mmpose_ext.datasets.synthetic.scene import camera

    img = np.random.default_rng(0).uniform(60, 200,
                                           (64, 64, 3)).astype(np.uint8)
    img[..., 2] = 220  # a red image (BGR)
    default = camera(img, np.random.default_rng(1),
                     'default').astype(np.float32)
    shifted = camera(img, np.random.default_rng(1),
                     'shifted').astype(np.float32)
    assert shifted.mean() < 0.7 * default.mean()
    # blue above red after the tint and desaturation
    assert shifted[..., 0].mean() > shifted[..., 2].mean()
    with pytest.raises(ValueError, match='appearance'):
        camera(img, np.random.default_rng(1), 'night')
