"""Draw posed figures into an image and read off honest keypoint visibility.

Every figure is drawn as capsules (limbs, neck), a convex torso, a head disc
and a hair disc, each part filled with a clothing-like texture, back to front
(figures by scene depth, then parts by their depth). Along with the image we
keep a *part-id map*: for every pixel, which part of which figure is on top. A
keypoint is

* ``v = 0`` when it projects outside the image (its x, y are then written as 0,
  as in COCO);
* ``v = 2`` when one of the parts it belongs to (e.g. the wrist: forearm or
  hand) is on top at its pixel (3x3 neighbourhood) and, for face points, the
  head sphere faces the camera there (the surface normal is not turned away by
  more than ~75°, so frontal ears count as visible, the far ear of a profile
  does not);
* ``v = 1`` otherwise: it is in the image but covered by another figure, an
  object, or the figure's own other parts (an arm across the chest, the back of
  the head) -- COCO's "labelled but not visible".

Note:
    H, W: image height and width. P: points of the body model
    (``body.POINTS``).
"""
from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

import cv2
import numpy as np

from .body import FACE, INDEX, KEYPOINTS, Figure

SHIFT = 4  # cv2 fixed-point bits: coordinates are drawn to 1/16 px
BACKGROUND, OBJECT = -1, -2  # part-id map values that are not a figure's part

# : (part, first point, second point, radius key, garment). The torso, head and
# hair are drawn specially.
CAPSULES = (
    ('neck', 'neck', 'neck_top', 'r_neck', 'skin'),
    ('left_upper_arm', 'left_shoulder', 'left_elbow', 'r_upper_arm', 'shirt'),
    ('right_upper_arm', 'right_shoulder', 'right_elbow', 'r_upper_arm',
     'shirt'),
    ('left_forearm', 'left_elbow', 'left_wrist', 'r_forearm', 'sleeve'),
    ('right_forearm', 'right_elbow', 'right_wrist', 'r_forearm', 'sleeve'),
    ('left_hand', 'left_wrist', 'left_hand_tip', 'r_hand', 'skin'),
    ('right_hand', 'right_wrist', 'right_hand_tip', 'r_hand', 'skin'),
    ('left_thigh', 'left_hip', 'left_knee', 'r_thigh', 'trousers'),
    ('right_thigh', 'right_hip', 'right_knee', 'r_thigh', 'trousers'),
    ('left_shank', 'left_knee', 'left_ankle', 'r_shank', 'legwear'),
    ('right_shank', 'right_knee', 'right_ankle', 'r_shank', 'legwear'),
    ('left_foot', 'left_ankle', 'left_toe', 'r_foot', 'shoes'),
    ('right_foot', 'right_ankle', 'right_toe', 'r_foot', 'shoes'),
)
PARTS = ('torso', 'head', 'hair') + tuple(c[0] for c in CAPSULES)
PART_INDEX = {name: i for i, name in enumerate(PARTS)}
MAX_PARTS = 32  # part-id = figure index * MAX_PARTS + part index

# : The parts each keypoint belongs to: it is visible if one of them is on top
# at its pixel.
OWNERS: Dict[str, Tuple[str, ...]] = {
    **{
        name: ('head', 'hair')
        for name in FACE + ('top_head', )
    },
    'neck': ('neck', 'torso'),
    **{
        f'{s}_shoulder': (f'{s}_upper_arm', 'torso')
        for s in ('left', 'right')
    },
    **{
        f'{s}_elbow': (f'{s}_upper_arm', f'{s}_forearm')
        for s in ('left', 'right')
    },
    **{
        f'{s}_wrist': (f'{s}_forearm', f'{s}_hand')
        for s in ('left', 'right')
    },
    **{
        f'{s}_hip': (f'{s}_thigh', 'torso')
        for s in ('left', 'right')
    },
    **{
        f'{s}_knee': (f'{s}_thigh', f'{s}_shank')
        for s in ('left', 'right')
    },
    **{
        f'{s}_ankle': (f'{s}_shank', f'{s}_foot')
        for s in ('left', 'right')
    },
}


@dataclass
class Placement:
    """Where a figure lands in the image: pixel position of its pelvis and its
    height in pixels."""
    x: float
    y: float
    height: float


@dataclass
class Outfit:
    """Base colours (BGR) of the garments and the texture of each;
    ``sleeve``/``legwear`` alias others."""
    colours: Dict[str, Tuple[int, int, int]]
    textures: Dict[str, str]
    long_sleeves: bool = True
    long_legs: bool = True
    # depth of the V-neck as a fraction of the neck-to-pelvis distance
    neckline: float = 0.2

    def garment(self, name: str) -> str:
        if name == 'sleeve':
            return 'shirt' if self.long_sleeves else 'skin'
        if name == 'legwear':
            return 'trousers' if self.long_legs else 'skin'
        return name


@dataclass
class RenderedFigure:
    """Keypoints (K, 3) as (x, y, v) in ``body.KEYPOINTS`` order, amodal xywh
    box and visible pixel area."""
    keypoints: np.ndarray
    bbox: Tuple[float, float, float, float]
    area: float


def project(figure: Figure, place: Placement) -> np.ndarray:
    """(P, 3) pixel x, y and depth (larger is nearer) of every body point."""
    pts = figure.points * place.height  # body units -> pixels
    return np.stack([place.x + pts[:, 0], place.y - pts[:, 1], pts[:, 2]],
                    axis=1)


def texture(rng: np.random.Generator, h: int, w: int, colour: Sequence[int],
            kind: str) -> np.ndarray:
    """(h, w, 3) uint8 clothing-like texture around ``colour``: solid, stripes,
    checker, noise or gradient."""
    base = np.array(colour, dtype=np.float32)
    out = np.empty((h, w, 3), np.float32)
    out[:] = base
    if kind == 'solid' or h == 0 or w == 0:
        return out.astype(np.uint8)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    other = rng.uniform(0, 255, 3).astype(np.float32)
    if kind == 'stripes':
        theta, period = rng.uniform(0, np.pi), rng.uniform(4, 14)
        mask = np.sin(
            (xx * np.cos(theta) + yy * np.sin(theta)) * 2 * np.pi / period) > 0
        out[mask] = 0.5 * base + 0.5 * other
    elif kind == 'checker':
        cell = rng.uniform(4, 12)
        mask = ((xx // cell + yy // cell) % 2).astype(bool)
        out[mask] = 0.6 * base + 0.4 * other
    elif kind == 'noise':
        grid = rng.normal(0, 30, (max(h // 6, 2), max(
            w // 6, 2), 1)).astype(np.float32)
        out += cv2.resize(
            grid, (w, h), interpolation=cv2.INTER_LINEAR)[..., None]
    elif kind == 'gradient':
        t = (yy / max(h - 1, 1))[..., None]
        out = (1 - t) * base + t * (0.5 * base + 0.5 * other)
    return np.clip(out, 0, 255).astype(np.uint8)


def _fixed(xy: np.ndarray) -> Tuple[int, int]:
    return int(round(xy[0] * (1 << SHIFT))), int(round(xy[1] * (1 << SHIFT)))


# : Face features in head radii (head frame: x to the figure's left, y up, z
# out of the face), drawn only where : the head sphere turns them towards the
# camera: (name, centre, half-size (x, y), colour key).
FACE_FEATURES = (
    ('left_eye', (0.33, 0.12, 0.9), (0.13, 0.08), 'eye'),
    ('right_eye', (-0.33, 0.12, 0.9), (0.13, 0.08), 'eye'),
    ('left_brow', (0.33, 0.36, 0.87), (0.17, 0.04), 'hair'),
    ('right_brow', (-0.33, 0.36, 0.87), (0.17, 0.04), 'hair'),
    ('nose', (0.0, -0.18, 1.0), (0.07, 0.14), 'shadow'),
    ('mouth', (0.0, -0.5, 0.84), (0.22, 0.05), 'lips'),
)
EARS = (('left_ear', (0.97, -0.02, -0.1)), ('right_ear', (-0.97, -0.02, -0.1)))


def _facing(normal: np.ndarray, min_cos: float) -> bool:
    """Whether a surface normal (x, y, z; z towards the camera) turns towards
    the camera by more than ``min_cos`` (cosine of the angle to the viewing
    direction)."""
    return bool(normal[2] > min_cos * np.linalg.norm(normal))


def _ellipse(img: np.ndarray, centre: np.ndarray, axes: Tuple[float, float],
             angle: float, colour) -> None:
    """Filled anti-aliased ellipse in sub-pixel coordinates (at least one pixel
    across)."""
    size = (max(int(round(axes[0] * (1 << SHIFT))), 1 << SHIFT - 1),
            max(int(round(axes[1] * (1 << SHIFT))), 1 << SHIFT - 1))
    cv2.ellipse(img, _fixed(centre), size, angle, 0, 360,
                tuple(float(c) for c in colour), -1, cv2.LINE_AA, SHIFT)


def _draw_face(img: np.ndarray, centre: np.ndarray, head_axes: np.ndarray,
               radius: float, skin, hair) -> None:
    """Eyes, brows, nose and mouth on the side of the head that faces the
    camera, and the ears where they stand out of the silhouette: the cues a
    person uses to tell a face from the back of a head, and so the figure's
    left from its right.

    ``centre`` is the head centre in (crop) pixels, ``radius`` in pixels.
    """
    skin = np.array(skin, np.float32)
    colours = dict(
        eye=(30, 25, 25),
        hair=tuple(float(c) for c in hair),
        shadow=tuple(0.75 * skin),
        lips=tuple(0.55 * skin + 0.45 * np.array((60, 50, 150), np.float32)))

    def to_pixels(offset):
        # head frame -> camera frame (x left, y up, z near)
        v = head_axes @ np.asarray(offset, np.float64)
        return centre[:2] + radius * np.array([v[0], -v[1]]), v

    # ears first: the face draws over a frontal ear's inner edge
    for _, offset in EARS:
        pix, normal = to_pixels(offset)
        if _facing(normal, -0.25):
            _ellipse(img, pix, (0.16 * radius, 0.26 * radius), 0.0,
                     tuple(0.85 * skin))
    for _, offset, (ax, ay), key in FACE_FEATURES:
        pix, normal = to_pixels(offset)
        if not _facing(normal, 0.25):
            continue
        # Foreshortening: the feature's width shrinks with the cosine of its
        # turn away from the camera.
        right = head_axes @ np.array([1.0, 0.0, 0.0])
        angle = float(np.degrees(np.arctan2(-right[1], right[0])))
        squeeze = max(normal[2] / max(np.linalg.norm(normal), 1e-9), 0.3)
        _ellipse(img, pix, (ax * radius * squeeze, ay * radius), angle,
                 colours[key])


def _draw_neckline(img: np.ndarray, pix: np.ndarray, torso_axes: np.ndarray,
                   depth: float, skin) -> None:
    """A V-neck of skin at the top of the shirt when the chest faces the camera
    (never on the back)."""
    if not _facing(torso_axes[:, 2], 0.2):
        return
    at = lambda name: pix[INDEX[name], :2]  # noqa: E731
    neck, ls, rs = at('neck'), at('left_shoulder'), at('right_shoulder')
    pelvis = 0.5 * (at('left_hip') + at('right_hip'))
    tri = np.stack([
        neck + 0.33 * (ls - neck), neck + 0.33 * (rs - neck),
        neck + depth * (pelvis - neck)
    ])
    cv2.fillConvexPoly(img, np.array([_fixed(p) for p in tri], np.int32),
                       tuple(float(c) for c in skin), cv2.LINE_AA, SHIFT)


def _part_shapes(pix: np.ndarray, figure: Figure, height: float):
    """Yield (part, garment, depth, draw(mask), decorate(img, outfit) or None)
    for every part of a projected figure; ``decorate`` adds the details drawn
    over a part after it is filled (face, neckline)."""
    p = {k: v * height for k, v in figure.props.items()}
    at = lambda name: pix[INDEX[name]]  # noqa: E731

    # Torso: the shoulder-hip quadrilateral, padded by a round stroke; slightly
    # behind its own joints so that limbs attached at the same depth draw on
    # top of it.
    corners = np.stack([
        at('left_shoulder'),
        at('right_shoulder'),
        at('right_hip'),
        at('left_hip')
    ])
    pad = max(int(round(2 * p['torso_pad'])), 1)

    def torso(mask):
        poly = np.array([_fixed(c) for c in corners[:, :2]], np.int32)
        cv2.fillConvexPoly(mask, cv2.convexHull(poly), 1, cv2.LINE_8, SHIFT)
        cv2.polylines(mask, [poly], True, 1, pad, cv2.LINE_8, SHIFT)

    def neckline(img, outfit):
        _draw_neckline(img, pix, figure.torso_axes, outfit.neckline,
                       outfit.colours['skin'])

    yield 'torso', 'shirt', corners[:,
                                    2].mean() - 0.01 * height, torso, neckline

    def face(img, outfit):
        _draw_face(img, at('head_centre'), figure.head_axes, p['head_r'],
                   outfit.colours['skin'], outfit.colours['hair'])

    for name, key, radius, garment, decorate in (('head', 'head_centre',
                                                  p['head_r'], 'skin', face),
                                                 ('hair', 'hair_centre',
                                                  0.95 * p['head_r'], 'hair',
                                                  None)):
        centre = at(key)
        yield name, garment, centre[2], (
            lambda mask, c=centre, r=radius: cv2.circle(
                mask, _fixed(c), int(round(r * (1 << SHIFT))), 1, -1, cv2.
                LINE_8, SHIFT)), decorate

    for name, a, b, rkey, garment in CAPSULES:
        pa, pb = at(a), at(b)
        thick = max(int(round(2 * p[rkey])), 1)
        yield name, garment, 0.5 * (pa[2] + pb[2]), (
            lambda mask, pa=pa, pb=pb, t=thick: cv2.line(
                mask, _fixed(pa), _fixed(pb), 1, t, cv2.LINE_8, SHIFT)), None


def volume_shading(mask: np.ndarray, light: float = 0.45) -> np.ndarray:
    """(h, w) float32 brightness of a part lit from the camera: 1 on its medial
    axis, falling to.

    ``1 - light`` at its outline like a cylinder's cosine (distance to the
    outline relative to the largest).

    Args:
        mask: (h, w) uint8, 1 inside the part.
    """
    dist = cv2.distanceTransform(mask, cv2.DIST_L2, 3)
    peak = float(dist.max())
    if peak <= 0:
        return np.ones(mask.shape, np.float32)
    t = np.clip(dist / peak, 0.0, 1.0)
    return (1.0 - light) + light * np.sqrt(1.0 - (1.0 - t)**2)


def draw_figure(img: np.ndarray, part_map: np.ndarray, figure: Figure,
                place: Placement, outfit: Outfit, fig_index: int,
                rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    """Draw one figure over ``img`` (H, W, 3) and ``part_map`` (H, W) in place,
    parts back to front, each shaded as a rounded volume and, for the head and
    chest, with the details that show which way it faces.

    Returns:
        (P, 3) projected points, and the figure's amodal (H, W) bool mask (all
        its parts, before anything drawn later covers them).
    """
    h_img, w_img = part_map.shape
    pix = project(figure, place)
    # the widest part reaches this far past the points
    margin = 0.1 * place.height + 2
    x0 = int(max(np.floor(pix[:, 0].min() - margin), 0))
    y0 = int(max(np.floor(pix[:, 1].min() - margin), 0))
    x1 = int(min(np.ceil(pix[:, 0].max() + margin), w_img))
    y1 = int(min(np.ceil(pix[:, 1].max() + margin), h_img))
    amodal = np.zeros((h_img, w_img), bool)
    if x1 <= x0 or y1 <= y0:
        return pix, amodal  # entirely outside the image
    local = pix.copy()
    local[:, :2] -= (x0, y0)  # draw in the crop's coordinates
    ch, cw = y1 - y0, x1 - x0
    textures = {
        g: texture(rng, ch, cw, outfit.colours[g], outfit.textures[g])
        for g in outfit.colours
    }
    crop_img, crop_map, crop_amodal = img[y0:y1, x0:x1], part_map[
        y0:y1, x0:x1], amodal[y0:y1, x0:x1]
    # far to near
    shapes = sorted(
        _part_shapes(local, figure, place.height), key=lambda s: s[2])
    mask = np.zeros((ch, cw), np.uint8)
    for part, garment, _, draw, decorate in shapes:
        mask[:] = 0
        draw(mask)
        m = mask.astype(bool)
        shade = rng.uniform(0.85, 1.1) * volume_shading(mask)[m][:, None]
        crop_img[m] = np.clip(textures[outfit.garment(garment)][m] * shade, 0,
                              255).astype(np.uint8)
        if decorate is not None:  # details stay inside the part's own pixels
            detail = crop_img.copy()
            decorate(detail, outfit)
            crop_img[m] = detail[m]
        crop_map[m] = fig_index * MAX_PARTS + PART_INDEX[part]
        crop_amodal |= m
    return pix, amodal


def visibility(pix: np.ndarray, figure: Figure, part_map: np.ndarray,
               fig_index: int) -> np.ndarray:
    """(len(KEYPOINTS), 3) COCO-style (x, y, v) of one drawn figure; see the
    module doc for v."""
    h_img, w_img = part_map.shape
    out = np.zeros((len(KEYPOINTS), 3), np.float32)
    centre = pix[INDEX['head_centre']]
    for k, name in enumerate(KEYPOINTS):
        x, y = pix[INDEX[name], :2]
        xi, yi = int(round(x)), int(round(y))
        if not (0 <= xi < w_img and 0 <= yi < h_img):
            continue  # outside the image: (0, 0, 0)
        window = part_map[max(yi - 1, 0):yi + 2, max(xi - 1, 0):xi + 2]
        owners = [fig_index * MAX_PARTS + PART_INDEX[p] for p in OWNERS[name]]
        on_top = bool(np.isin(window, owners).any())
        # clearly on the far side of the head sphere -> hidden by the figure's
        # own head
        if name in FACE:
            normal = pix[INDEX[name]] - centre
            on_top &= bool(normal[2] > -0.25 * np.linalg.norm(normal))
        out[k] = (x, y, 2 if on_top else 1)
    return out


def draw_object(img: np.ndarray, part_map: np.ndarray,
                rng: np.random.Generator) -> None:
    """A random textured rectangle, ellipse or polygon, drawn over everything
    (an occluding object)."""
    h_img, w_img = part_map.shape
    mask = np.zeros((h_img, w_img), np.uint8)
    cx, cy = rng.uniform(0, w_img), rng.uniform(0, h_img)
    sx, sy = rng.uniform(0.05, 0.25) * w_img, rng.uniform(0.05, 0.25) * h_img
    kind = rng.integers(3)
    if kind == 0:
        cv2.rectangle(mask, (int(cx - sx), int(cy - sy)),
                      (int(cx + sx), int(cy + sy)), 1, -1)
    elif kind == 1:
        cv2.ellipse(mask, (int(cx), int(cy)), (int(sx), int(sy)),
                    float(rng.uniform(0, 180)), 0, 360, 1, -1)
    else:
        n = int(rng.integers(3, 7))
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        poly = np.stack([cx + sx * np.cos(ang), cy + sy * np.sin(ang)],
                        1).astype(np.int32)
        cv2.fillPoly(mask, [poly], 1)
    m = mask.astype(bool)
    tex = texture(rng, h_img, w_img, rng.uniform(0, 255, 3),
                  str(rng.choice(['solid', 'stripes', 'noise'])))
    img[m] = tex[m]
    part_map[m] = OBJECT


def _smooth_noise(rng: np.random.Generator,
                  h: int,
                  w: int,
                  cells: int,
                  std: float,
                  channels: int = 3):
    """(h, w, channels) float32 low-frequency noise: a ``cells``-wide random
    grid, cubic-upsampled."""
    gh, gw = max(int(cells * h / max(h, w)),
                 2), max(int(cells * w / max(h, w)), 2)
    grid = rng.normal(0, std, (gh, gw, channels)).astype(np.float32)
    out = cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
    return out.reshape(h, w, channels)


def _scenery(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """(h, w, 3) float32 outdoor-like scene: a sky or wall gradient above a
    horizon, a textured ground (grass, snow, sand, court or road colours) below
    it, both with multi-scale noise."""
    # BGR: blue to grey-white skies, painted walls
    sky_top = rng.uniform([140, 90, 40], [255, 230, 210])
    sky_low = np.clip(sky_top + rng.uniform(-40, 60, 3), 0, 255)
    grounds = np.array(
        [
            (60, 140, 70),
            (235, 235, 235),
            (120, 170, 200),
            (90, 100, 180),
            (110, 110, 110),
            # grass, snow, sand, clay court, asphalt, dark field
            (40, 80, 60)
        ],
        np.float32)
    ground = grounds[rng.integers(len(grounds))] + rng.uniform(-30, 30, 3)
    horizon = rng.uniform(0.15, 0.65) * h
    yy = np.arange(h, dtype=np.float32)[:, None, None]
    t = np.clip(yy / max(horizon, 1.0), 0, 1)
    img = np.broadcast_to((1 - t) * sky_top + t * sky_low, (h, w, 3)).copy()
    below = (yy >= horizon)[..., 0].repeat(w, axis=1)
    # 0 at the horizon, 1 at the bottom
    depth = np.clip((yy - horizon) / max(h - horizon, 1.0), 0, 1)
    cells = int(rng.integers(8, 40))
    ground_img = (
        ground * (0.8 + 0.3 * depth) +
        _smooth_noise(rng, h, w, cells, 18, channels=1)
        # mostly brightness, a little colour
        + _smooth_noise(rng, h, w, cells, 5))
    # fine grain (grass, snow crust)
    ground_img += _smooth_noise(rng, h, w, max(h, w) // 3, 6, channels=1)
    img[below] = ground_img[below]
    img += _smooth_noise(rng, h, w, int(rng.integers(2, 6)), 12, channels=1)
    return img


def muted_colour(rng: np.random.Generator,
                 low: float = 0.0,
                 high: float = 255.0) -> np.ndarray:
    """(3,) float BGR colour whose saturation is drawn from 0.2..1 of a uniform
    random colour's (photographs are mostly less saturated than uniform RGB
    noise)."""
    colour = rng.uniform(low, high, 3)
    return colour.mean() + rng.uniform(0.2, 1.0) * (colour - colour.mean())


def background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """(h, w, 3) uint8 background: a two-colour gradient with low-frequency
    noise or clutter shapes, or an outdoor-like scene with a horizon, a
    textured ground and clutter."""
    style = rng.integers(4)
    if style == 3:
        img = _scenery(rng, h, w)
    else:
        a, b = muted_colour(rng), muted_colour(rng)
        theta = rng.uniform(0, 2 * np.pi)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        t = (xx * np.cos(theta) + yy * np.sin(theta))
        t = ((t - t.min()) / max(np.ptp(t), 1.0))[..., None]
        img = (1 - t) * a + t * b
        if style == 0:  # low-frequency noise
            cells = int(rng.integers(3, 12))
            img = img + _smooth_noise(
                rng, h, w, cells, 35, channels=1) + _smooth_noise(
                    rng, h, w, cells, 15)
    img = np.clip(img, 0, 255).astype(np.uint8)
    # clutter: rectangles, circles and lines (poles, fences, signs, balls)
    if style in (1, 3):
        for _ in range(
                int(
                    rng.integers(5, 25) if style ==
                    1 else rng.integers(0, 10))):
            colour = tuple(int(c) for c in rng.uniform(0, 255, 3))
            x, y = int(rng.uniform(0, w)), int(rng.uniform(0, h))
            s = int(rng.uniform(4, 0.3 * min(h, w)))
            shape = rng.integers(3)
            if shape == 0:
                cv2.rectangle(img, (x, y),
                              (x + s, y + int(rng.uniform(4, s + 5))), colour,
                              -1)
            elif shape == 1:
                cv2.circle(img, (x, y), s // 2, colour, -1)
            else:
                cv2.line(img, (x, y),
                         (int(rng.uniform(0, w)), int(rng.uniform(0, h))),
                         colour, int(rng.integers(1, 6)))
    return img


def render(h: int,
           w: int,
           figures: List[Tuple[Figure, Placement, Outfit]],
           rng: np.random.Generator,
           num_objects: int = 0,
           bg: np.ndarray = None
           ) -> Tuple[np.ndarray, np.ndarray, List[RenderedFigure]]:
    """Draw the figures (in the given order: first is farthest), then
    ``num_objects`` occluders.

    Returns:
        image (H, W, 3) uint8 BGR, part-id map (H, W) int32, and one
        :class:`RenderedFigure` per figure.
    """
    img = background(rng, h, w) if bg is None else bg.copy()
    part_map = np.full((h, w), BACKGROUND, np.int32)
    drawn = []
    for i, (figure, place, outfit) in enumerate(figures):
        pix, amodal = draw_figure(img, part_map, figure, place, outfit, i, rng)
        drawn.append((pix, amodal))
    for _ in range(num_objects):
        draw_object(img, part_map, rng)
    out = []
    for i, ((figure, _, _), (pix, amodal)) in enumerate(zip(figures, drawn)):
        ys, xs = np.nonzero(amodal)
        # amodal box: every drawn pixel of the figure, clipped to the image
        if len(xs):
            bbox = (float(xs.min()), float(ys.min()),
                    float(xs.max() - xs.min() + 1),
                    float(ys.max() - ys.min() + 1))
        else:
            bbox = (0.0, 0.0, 0.0, 0.0)
        area = float(((part_map >= i * MAX_PARTS) &
                      (part_map < (i + 1) * MAX_PARTS)).sum())
        out.append(
            RenderedFigure(visibility(pix, figure, part_map, i), bbox, area))
    return img, part_map, out
