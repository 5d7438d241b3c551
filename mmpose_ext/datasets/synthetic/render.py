"""Draw posed figures into an image and read off honest keypoint visibility.

Every figure is drawn as capsules (limbs, neck), a convex torso, a head disc and a hair disc, each part filled
with a clothing-like texture, back to front (figures by scene depth, then parts by their depth). Along with the
image we keep a *part-id map*: for every pixel, which part of which figure is on top. A keypoint is

* ``v = 0`` when it projects outside the image (its x, y are then written as 0, as in COCO);
* ``v = 2`` when one of the parts it belongs to (e.g. the wrist: forearm or hand) is on top at its pixel (3x3
  neighbourhood) and, for face points, the head sphere faces the camera there (the surface normal is not
  turned away by more than ~75°, so frontal ears count as visible, the far ear of a profile does not);
* ``v = 1`` otherwise: it is in the image but covered by another figure, an object, or the figure's own
  other parts (an arm across the chest, the back of the head) -- COCO's "labelled but not visible".

Note:
    H, W: image height and width. P: points of the body model (``body.POINTS``).
"""
from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

import cv2
import numpy as np

from .body import FACE, INDEX, KEYPOINTS, Figure

SHIFT = 4  # cv2 fixed-point bits: coordinates are drawn to 1/16 px
BACKGROUND, OBJECT = -1, -2  # part-id map values that are not a figure's part

#: (part, first point, second point, radius key, garment). The torso, head and hair are drawn specially.
CAPSULES = (
    ('neck', 'neck', 'neck_top', 'r_neck', 'skin'),
    ('left_upper_arm', 'left_shoulder', 'left_elbow', 'r_upper_arm', 'shirt'),
    ('right_upper_arm', 'right_shoulder', 'right_elbow', 'r_upper_arm', 'shirt'),
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

#: The parts each keypoint belongs to: it is visible if one of them is on top at its pixel.
OWNERS: Dict[str, Tuple[str, ...]] = {
    **{name: ('head', 'hair') for name in FACE + ('top_head', )},
    'neck': ('neck', 'torso'),
    **{f'{s}_shoulder': (f'{s}_upper_arm', 'torso') for s in ('left', 'right')},
    **{f'{s}_elbow': (f'{s}_upper_arm', f'{s}_forearm') for s in ('left', 'right')},
    **{f'{s}_wrist': (f'{s}_forearm', f'{s}_hand') for s in ('left', 'right')},
    **{f'{s}_hip': (f'{s}_thigh', 'torso') for s in ('left', 'right')},
    **{f'{s}_knee': (f'{s}_thigh', f'{s}_shank') for s in ('left', 'right')},
    **{f'{s}_ankle': (f'{s}_shank', f'{s}_foot') for s in ('left', 'right')},
}


@dataclass
class Placement:
    """Where a figure lands in the image: pixel position of its pelvis and its height in pixels."""
    x: float
    y: float
    height: float


@dataclass
class Outfit:
    """Base colours (BGR) of the garments and the texture of each; ``sleeve``/``legwear`` alias others."""
    colours: Dict[str, Tuple[int, int, int]]
    textures: Dict[str, str]
    long_sleeves: bool = True
    long_legs: bool = True

    def garment(self, name: str) -> str:
        if name == 'sleeve':
            return 'shirt' if self.long_sleeves else 'skin'
        if name == 'legwear':
            return 'trousers' if self.long_legs else 'skin'
        return name


@dataclass
class RenderedFigure:
    """Keypoints (K, 3) as (x, y, v) in ``body.KEYPOINTS`` order, amodal xywh box and visible pixel area."""
    keypoints: np.ndarray
    bbox: Tuple[float, float, float, float]
    area: float


def project(figure: Figure, place: Placement) -> np.ndarray:
    """(P, 3) pixel x, y and depth (larger is nearer) of every body point."""
    pts = figure.points * place.height  # body units -> pixels
    return np.stack([place.x + pts[:, 0], place.y - pts[:, 1], pts[:, 2]], axis=1)


def texture(rng: np.random.Generator, h: int, w: int, colour: Sequence[int], kind: str) -> np.ndarray:
    """(h, w, 3) uint8 clothing-like texture around ``colour``: solid, stripes, checker, noise or gradient."""
    base = np.array(colour, dtype=np.float32)
    out = np.empty((h, w, 3), np.float32)
    out[:] = base
    if kind == 'solid' or h == 0 or w == 0:
        return out.astype(np.uint8)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    other = rng.uniform(0, 255, 3).astype(np.float32)
    if kind == 'stripes':
        theta, period = rng.uniform(0, np.pi), rng.uniform(4, 14)
        mask = np.sin((xx * np.cos(theta) + yy * np.sin(theta)) * 2 * np.pi / period) > 0
        out[mask] = 0.5 * base + 0.5 * other
    elif kind == 'checker':
        cell = rng.uniform(4, 12)
        mask = ((xx // cell + yy // cell) % 2).astype(bool)
        out[mask] = 0.6 * base + 0.4 * other
    elif kind == 'noise':
        grid = rng.normal(0, 30, (max(h // 6, 2), max(w // 6, 2), 1)).astype(np.float32)
        out += cv2.resize(grid, (w, h), interpolation=cv2.INTER_LINEAR)[..., None]
    elif kind == 'gradient':
        t = (yy / max(h - 1, 1))[..., None]
        out = (1 - t) * base + t * (0.5 * base + 0.5 * other)
    return np.clip(out, 0, 255).astype(np.uint8)


def _fixed(xy: np.ndarray) -> Tuple[int, int]:
    return int(round(xy[0] * (1 << SHIFT))), int(round(xy[1] * (1 << SHIFT)))


def _part_shapes(pix: np.ndarray, figure: Figure, height: float):
    """Yield (part, garment, depth, draw(mask)) for every part of a projected figure."""
    p = {k: v * height for k, v in figure.props.items()}
    at = lambda name: pix[INDEX[name]]  # noqa: E731

    # Torso: the shoulder-hip quadrilateral, padded by a round stroke; slightly behind its own joints so that
    # limbs attached at the same depth draw on top of it.
    corners = np.stack([at('left_shoulder'), at('right_shoulder'), at('right_hip'), at('left_hip')])
    pad = max(int(round(2 * p['torso_pad'])), 1)

    def torso(mask):
        poly = np.array([_fixed(c) for c in corners[:, :2]], np.int32)
        cv2.fillConvexPoly(mask, cv2.convexHull(poly), 1, cv2.LINE_8, SHIFT)
        cv2.polylines(mask, [poly], True, 1, pad, cv2.LINE_8, SHIFT)
    yield 'torso', 'shirt', corners[:, 2].mean() - 0.01 * height, torso

    for name, key, radius, garment in (('head', 'head_centre', p['head_r'], 'skin'),
                                       ('hair', 'hair_centre', 0.95 * p['head_r'], 'hair')):
        centre = at(key)
        yield name, garment, centre[2], (
            lambda mask, c=centre, r=radius: cv2.circle(mask, _fixed(c), int(round(r * (1 << SHIFT))), 1,
                                                        -1, cv2.LINE_8, SHIFT))

    for name, a, b, rkey, garment in CAPSULES:
        pa, pb = at(a), at(b)
        thick = max(int(round(2 * p[rkey])), 1)
        yield name, garment, 0.5 * (pa[2] + pb[2]), (
            lambda mask, pa=pa, pb=pb, t=thick: cv2.line(mask, _fixed(pa), _fixed(pb), 1, t, cv2.LINE_8, SHIFT))


def draw_figure(img: np.ndarray, part_map: np.ndarray, figure: Figure, place: Placement, outfit: Outfit,
                fig_index: int, rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    """Draw one figure over ``img`` (H, W, 3) and ``part_map`` (H, W) in place, parts back to front.

    Returns:
        (P, 3) projected points, and the figure's amodal (H, W) bool mask (all its parts, before anything
        drawn later covers them).
    """
    h_img, w_img = part_map.shape
    pix = project(figure, place)
    margin = 0.1 * place.height + 2  # the widest part reaches this far past the points
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
    textures = {g: texture(rng, ch, cw, outfit.colours[g], outfit.textures[g]) for g in outfit.colours}
    crop_img, crop_map, crop_amodal = img[y0:y1, x0:x1], part_map[y0:y1, x0:x1], amodal[y0:y1, x0:x1]
    shapes = sorted(_part_shapes(local, figure, place.height), key=lambda s: s[2])  # far to near
    mask = np.zeros((ch, cw), np.uint8)
    for part, garment, _, draw in shapes:
        mask[:] = 0
        draw(mask)
        m = mask.astype(bool)
        shade = rng.uniform(0.85, 1.1)
        crop_img[m] = np.clip(textures[outfit.garment(garment)][m] * shade, 0, 255).astype(np.uint8)
        crop_map[m] = fig_index * MAX_PARTS + PART_INDEX[part]
        crop_amodal |= m
    return pix, amodal


def visibility(pix: np.ndarray, figure: Figure, part_map: np.ndarray, fig_index: int) -> np.ndarray:
    """(len(KEYPOINTS), 3) COCO-style (x, y, v) of one drawn figure; see the module doc for v."""
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
        if name in FACE:  # clearly on the far side of the head sphere -> hidden by the figure's own head
            normal = pix[INDEX[name]] - centre
            on_top &= bool(normal[2] > -0.25 * np.linalg.norm(normal))
        out[k] = (x, y, 2 if on_top else 1)
    return out


def draw_object(img: np.ndarray, part_map: np.ndarray, rng: np.random.Generator) -> None:
    """A random textured rectangle, ellipse or polygon, drawn over everything (an occluding object)."""
    h_img, w_img = part_map.shape
    mask = np.zeros((h_img, w_img), np.uint8)
    cx, cy = rng.uniform(0, w_img), rng.uniform(0, h_img)
    sx, sy = rng.uniform(0.05, 0.25) * w_img, rng.uniform(0.05, 0.25) * h_img
    kind = rng.integers(3)
    if kind == 0:
        cv2.rectangle(mask, (int(cx - sx), int(cy - sy)), (int(cx + sx), int(cy + sy)), 1, -1)
    elif kind == 1:
        cv2.ellipse(mask, (int(cx), int(cy)), (int(sx), int(sy)), float(rng.uniform(0, 180)), 0, 360, 1, -1)
    else:
        n = int(rng.integers(3, 7))
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        poly = np.stack([cx + sx * np.cos(ang), cy + sy * np.sin(ang)], 1).astype(np.int32)
        cv2.fillPoly(mask, [poly], 1)
    m = mask.astype(bool)
    tex = texture(rng, h_img, w_img, rng.uniform(0, 255, 3), str(rng.choice(['solid', 'stripes', 'noise'])))
    img[m] = tex[m]
    part_map[m] = OBJECT


def background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """(h, w, 3) uint8 background: a two-colour gradient, plus low-frequency noise or clutter shapes."""
    a, b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    theta = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = (xx * np.cos(theta) + yy * np.sin(theta))
    t = ((t - t.min()) / max(np.ptp(t), 1.0))[..., None]
    img = (1 - t) * a + t * b
    style = rng.integers(3)
    if style == 0:  # low-frequency noise
        grid = rng.normal(0, 40, (int(rng.integers(3, 12)), int(rng.integers(3, 12)), 3)).astype(np.float32)
        img = img + cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
    img = np.clip(img, 0, 255).astype(np.uint8)
    if style == 1:  # clutter: rectangles, circles and lines
        for _ in range(int(rng.integers(5, 25))):
            colour = tuple(int(c) for c in rng.uniform(0, 255, 3))
            x, y = int(rng.uniform(0, w)), int(rng.uniform(0, h))
            s = int(rng.uniform(4, 0.3 * min(h, w)))
            shape = rng.integers(3)
            if shape == 0:
                cv2.rectangle(img, (x, y), (x + s, y + int(rng.uniform(4, s + 5))), colour, -1)
            elif shape == 1:
                cv2.circle(img, (x, y), s // 2, colour, -1)
            else:
                cv2.line(img, (x, y), (int(rng.uniform(0, w)), int(rng.uniform(0, h))), colour,
                         int(rng.integers(1, 6)))
    return img


def render(h: int, w: int, figures: List[Tuple[Figure, Placement, Outfit]], rng: np.random.Generator,
           num_objects: int = 0, bg: np.ndarray = None) -> Tuple[np.ndarray, np.ndarray, List[RenderedFigure]]:
    """Draw the figures (in the given order: first is farthest), then ``num_objects`` occluders.

    Returns:
        image (H, W, 3) uint8 BGR, part-id map (H, W) int32, and one :class:`RenderedFigure` per figure.
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
        if len(xs):  # amodal box: every drawn pixel of the figure, clipped to the image
            bbox = (float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1),
                    float(ys.max() - ys.min() + 1))
        else:
            bbox = (0.0, 0.0, 0.0, 0.0)
        area = float(((part_map >= i * MAX_PARTS) & (part_map < (i + 1) * MAX_PARTS)).sum())
        out.append(RenderedFigure(visibility(pix, figure, part_map, i), bbox, area))
    return img, part_map, out
