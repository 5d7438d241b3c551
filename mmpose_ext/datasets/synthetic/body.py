"""The body model of the synthetic figures: proportions, joint limits, pose
sampling, 3D forward kinematics.

Proportions follow the segment lengths of Drillis & Contini (1966, "Body
segments parameters", as tabulated in Winter, *Biomechanics and Motor Control
of Human Movement*, Fig. 4.1) as fractions of the standing height H: shoulder
height 0.818 H, hip-joint height 0.530 H, upper arm 0.186 H, forearm 0.146 H,
hand 0.108 H, thigh 0.245 H, shank 0.246 H, head 0.130 H tall. Each figure
jitters them by a few percent and draws a build (slim to broad) that scales
widths.

Joint limits are the ranges of motion of a healthy adult (e.g. AAOS tables),
rounded: elbow 0..145° flexion, knee 0..140° flexion (always bending
backwards), hip -25..120° flexion, shoulder -50..170° flexion and 0..170°
abduction, head yaw ±75°. Every angle is drawn either from a relaxed
(standing/walking) prior or uniformly within its limits, so poses range from
upright to crouching, reaching and bending.

Coordinates: body units (H = 1), x to the figure's left, y up, z out of the
    figure's chest when it faces the
camera; the pelvis centre is the origin. The camera looks down -z
(orthographic), so image u = x, v = -y and a larger z is nearer the camera.
"""
from dataclasses import dataclass, field
from typing import Dict, Tuple

import numpy as np

# : Every point the body model produces. The first 19 are keypoints (COCO's 17
# + CrowdPose's ``top_head`` and : ``neck``); the others exist only to draw
# hands, feet and the head.
KEYPOINTS = ('nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear',
             'left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow',
             'left_wrist', 'right_wrist', 'left_hip', 'right_hip', 'left_knee',
             'right_knee', 'left_ankle', 'right_ankle', 'top_head', 'neck')
HELPERS = ('left_hand_tip', 'right_hand_tip', 'left_toe', 'right_toe',
           'head_centre', 'hair_centre', 'neck_top')
POINTS = KEYPOINTS + HELPERS
INDEX = {name: i for i, name in enumerate(POINTS)}

#: Face points: visible only where the head sphere faces the camera.
FACE = ('nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear')

#: (lower, upper) joint limit and the relaxed prior's (mean, std), degrees.
LIMITS: Dict[str, Tuple[Tuple[float, float], Tuple[float, float]]] = {
    # bending forward (+) / backward (-)
    'torso_flex': ((-20, 60), (5, 8)),
    'torso_roll': ((-25, 25), (0, 5)),  # side bend
    # shoulders vs hips about the spine
    'torso_twist': ((-40, 40), (0, 10)),
    'head_yaw': ((-75, 75), (0, 20)),
    'head_pitch': ((-30, 40), (0, 10)),  # nodding down (+)
    'head_roll': ((-25, 25), (0, 8)),
    'shoulder_flex': ((-50, 170), (10, 25)),  # arm forward (+) / back (-)
    # arm sideways, away from the body
    'shoulder_abd': ((0, 170), (15, 15)),
    # turns the plane the elbow bends in
    'humeral_rot': ((-60, 90), (20, 30)),
    'elbow_flex': ((0, 145), (20, 25)),
    'hip_flex': ((-25, 120), (5, 15)),
    'hip_abd': ((-10, 45), (5, 5)),
    'leg_rot': ((-30, 30), (0, 8)),
    'knee_flex': ((0, 140), (8, 15)),
    # whole figure leaning in the image plane
    'root_roll': ((-30, 30), (0, 6)),
    # camera above (+) / below (-) the figure
    'view_pitch': ((-25, 25), (0, 8)),
}
# : The facing direction (yaw; 0 faces the camera): photographs show most
# people from the front or the side,
# : where the face, the chest and the toes tell their left from their right.
# With probability FRONTAL_PROB
# : the yaw is drawn from N(0, FRONTAL_STD), otherwise uniformly over the
# circle (back views included):
# : about 80 % of the figures turn their face-side (|yaw| < 90°) to the camera.
FRONTAL_PROB, FRONTAL_STD = 0.6, 40.0
SIDED = ('shoulder_flex', 'shoulder_abd', 'humeral_rot', 'elbow_flex',
         'hip_flex', 'hip_abd', 'leg_rot', 'knee_flex')

# : Mean segment lengths and radii in body heights (radii are of the drawn
# capsules).
PROPORTIONS = dict(
    hip_half=0.085,
    shoulder_half=0.115,
    spine=0.30,
    shoulder_drop=0.03,
    neck=0.05,
    head_r=0.062,
    upper_arm=0.186,
    forearm=0.146,
    hand=0.085,
    thigh=0.245,
    shank=0.246,
    foot=0.11,
    r_upper_arm=0.034,
    r_forearm=0.027,
    r_hand=0.022,
    r_thigh=0.052,
    r_shank=0.038,
    r_foot=0.024,
    r_neck=0.028,
    torso_pad=0.025)


@dataclass
class Figure:
    """One posed figure in body units.

    Attributes:
        points: (P, 3) positions of :data:`POINTS` (x left, y up, z towards the
            camera).
        props: the proportions it was built with (see :data:`PROPORTIONS`).
        head_axes: (3, 3) rotation of the head (columns: head x, y, z axes),
            for the face-visibility test and to draw the face.
        torso_axes: (3, 3) rotation of the chest (column 2 points out of the
            chest), to draw the front of the shirt only where the chest faces
            the camera.
    """
    points: np.ndarray
    props: Dict[str, float]
    head_axes: np.ndarray = field(default_factory=lambda: np.eye(3))
    torso_axes: np.ndarray = field(default_factory=lambda: np.eye(3))


def _rx(deg: float) -> np.ndarray:
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def _ry(deg: float) -> np.ndarray:
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _rz(deg: float) -> np.ndarray:
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def _rotate_about(v: np.ndarray, axis: np.ndarray, deg: float) -> np.ndarray:
    """Rodrigues' rotation of ``v`` about the unit vector ``axis``."""
    t = np.radians(deg)
    return v * np.cos(t) + np.cross(axis, v) * np.sin(t) + axis * np.dot(
        axis, v) * (1 - np.cos(t))


def sample_proportions(rng: np.random.Generator) -> Dict[str, float]:
    """Mean proportions jittered per segment (±~5 %) and by a build factor that
    scales widths (0.85..1.2)."""
    build = rng.uniform(0.85, 1.2)
    props = {}
    for key, value in PROPORTIONS.items():
        jitter = float(np.exp(rng.normal(0.0, 0.05)))
        wide = key.startswith('r_') or key in ('hip_half', 'shoulder_half',
                                               'torso_pad')
        props[key] = value * jitter * (build if wide else 1.0)
    return props


def sample_pose(rng: np.random.Generator,
                relaxed_prob: float = 0.6) -> Dict[str, float]:
    """Joint angles in degrees, each clipped to :data:`LIMITS`; sided angles
    get ``left_``/``right_`` keys.

    With probability ``relaxed_prob`` an angle comes from the relaxed prior
    (clipped), otherwise uniformly from its whole range. ``yaw`` (the facing
    direction, degrees in [0, 360)) follows the frontal-biased prior of
    :data:`FRONTAL_PROB`.
    """
    yaw = rng.normal(
        0.0, FRONTAL_STD) if rng.random() < FRONTAL_PROB else rng.uniform(
            0.0, 360.0)
    pose = {'yaw': float(yaw % 360.0)}
    for name, ((lo, hi), (mean, std)) in LIMITS.items():
        for prefix in (('left_', 'right_') if name in SIDED else ('', )):
            if rng.random() < relaxed_prob:
                value = float(np.clip(rng.normal(mean, std), lo, hi))
            else:
                value = float(rng.uniform(lo, hi))
            pose[prefix + name] = value
    return pose


def check_pose(pose: Dict[str, float]) -> None:
    """Raise ``ValueError`` if an angle is outside its joint limit."""
    for name, ((lo, hi), _) in LIMITS.items():
        for prefix in (('left_', 'right_') if name in SIDED else ('', )):
            value = pose[prefix + name]
            if not lo - 1e-9 <= value <= hi + 1e-9:
                raise ValueError(
                    f'{prefix + name}={value:.1f}° is outside its limit '
                    f'[{lo}, {hi}]')


def forward_kinematics(props: Dict[str, float], pose: Dict[str,
                                                           float]) -> Figure:
    """Place every point of :data:`POINTS` for the given proportions and joint
    angles (see module doc)."""
    check_pose(pose)
    p = props
    down, fwd = np.array([0.0, -1.0, 0.0]), np.array([0.0, 0.0, 1.0])
    pts = {}
    root = _ry(pose['yaw']) @ _rz(pose['root_roll'])
    torso = root @ _ry(pose['torso_twist']) @ _rx(pose['torso_flex']) @ _rz(
        pose['torso_roll'])
    head = torso @ _ry(pose['head_yaw']) @ _rx(pose['head_pitch']) @ _rz(
        pose['head_roll'])

    neck = torso @ np.array([0.0, p['spine'], 0.0])
    neck_top = neck + torso @ np.array([0.0, p['neck'], 0.0])
    centre = neck_top + head @ np.array([0.0, p['head_r'], 0.15 * p['head_r']])
    pts.update(neck=neck, neck_top=neck_top, head_centre=centre)
    # Face points on (or just off) the head sphere, in head radii; the nose
    # sticks out a little.
    face = dict(
        nose=(0.0, -0.2, 1.05),
        left_eye=(0.33, 0.12, 0.9),
        right_eye=(-0.33, 0.12, 0.9),
        left_ear=(0.97, -0.02, -0.1),
        right_ear=(-0.97, -0.02, -0.1),
        top_head=(0.0, 1.0, 0.0),
        hair_centre=(0.0, 0.25, -0.3))
    for name, offset in face.items():
        pts[name] = centre + head @ (np.array(offset) * p['head_r'])

    for side, sign in (('left', 1.0), ('right', -1.0)):
        ang = {k: pose[f'{side}_{k}'] for k in SIDED}
        # Arm: flexion about the torso's x axis, abduction about its z axis,
        # then elbow flexion in the plane spanned by the upper arm and its
        # (humerally rotated) forward vector.
        shoulder = neck + torso @ np.array(
            [sign * p['shoulder_half'], -p['shoulder_drop'], 0.0])
        arm = torso @ _rx(-ang['shoulder_flex']) @ _rz(
            sign * ang['shoulder_abd'])
        upper = arm @ down
        bend = _rotate_about(arm @ fwd, upper, sign * ang['humeral_rot'])
        elbow = shoulder + p['upper_arm'] * upper
        lower = np.cos(np.radians(ang['elbow_flex'])) * upper + np.sin(
            np.radians(ang['elbow_flex'])) * bend
        wrist = elbow + p['forearm'] * lower
        # Leg: hip flexion/abduction/rotation in the pelvis frame, the knee
        # always bends backwards.
        hip = root @ np.array([sign * p['hip_half'], 0.0, 0.0])
        leg = root @ _rx(-ang['hip_flex']) @ _rz(sign * ang['hip_abd']) @ _ry(
            sign * ang['leg_rot'])
        thigh, leg_fwd = leg @ down, leg @ fwd
        knee = hip + p['thigh'] * thigh
        k = np.radians(ang['knee_flex'])
        shank = np.cos(k) * thigh - np.sin(k) * leg_fwd
        ankle = knee + p['shank'] * shank
        # perpendicular to the shank, toes forward
        foot = np.cos(k) * leg_fwd + np.sin(k) * thigh
        pts.update({
            f'{side}_shoulder': shoulder,
            f'{side}_elbow': elbow,
            f'{side}_wrist': wrist,
            f'{side}_hand_tip': wrist + p['hand'] * lower,
            f'{side}_hip': hip,
            f'{side}_knee': knee,
            f'{side}_ankle': ankle,
            f'{side}_toe': ankle + p['foot'] * foot
        })

    view = _rx(pose['view_pitch'])
    points = np.stack([view @ pts[name] for name in POINTS])  # (P, 3)
    return Figure(
        points=points,
        props=dict(props),
        head_axes=view @ head,
        torso_axes=view @ torso)


def sample_figure(rng: np.random.Generator) -> Figure:
    """A random figure: jittered proportions and a pose within the joint
    limits."""
    return forward_kinematics(sample_proportions(rng), sample_pose(rng))
