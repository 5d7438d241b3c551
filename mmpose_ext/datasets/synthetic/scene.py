"""Random scenes: how many figures, where, how big, what they wear, and the
camera: exposure, colour balance, blur and noise.

An ``appearance`` names the camera regime: ``'default'`` (daylight photographs)
or ``'shifted'`` (dim, desaturated, blue-tinted, blurrier and noisier: the same
people and poses under another appearance, for testing adaptation to a new
domain).
"""
from typing import List, Tuple

import cv2
import numpy as np

from .body import Figure, sample_figure
from .render import Outfit, Placement, RenderedFigure, muted_colour, render

#: Skin tones (BGR), light to dark, interpolated between neighbours.
SKIN_TONES = np.array([(203, 220, 255), (160, 190, 240), (120, 160, 215),
                       (80, 120, 180), (50, 80, 130), (35, 55, 85)],
                      np.float32)
HAIR_TONES = np.array([(20, 20, 25), (30, 50, 90), (60, 110, 170),
                       (170, 200, 220), (150, 150, 150)], np.float32)
TEXTURES = ('solid', 'stripes', 'checker', 'noise', 'gradient')


def _tone(rng: np.random.Generator,
          palette: np.ndarray) -> Tuple[int, int, int]:
    i = rng.integers(len(palette) - 1)
    t = rng.random()
    return tuple(int(c) for c in (1 - t) * palette[i] + t * palette[i + 1])


def sample_outfit(rng: np.random.Generator) -> Outfit:
    """Random clothes: shirt, trousers and shoe colours and textures; skin and
    hair from palettes."""
    colours = dict(
        skin=_tone(rng, SKIN_TONES),
        hair=_tone(rng, HAIR_TONES),
        shirt=tuple(int(c) for c in muted_colour(rng, 0, 255)),
        trousers=tuple(int(c) for c in muted_colour(rng, 0, 200)),
        shoes=tuple(int(c) for c in rng.uniform(0, 120, 3)))
    textures = {
        g: str(rng.choice(TEXTURES)) if g in ('shirt', 'trousers') else 'solid'
        for g in colours
    }
    textures['hair'] = 'noise'
    return Outfit(
        colours,
        textures,
        long_sleeves=bool(rng.random() < 0.6),
        long_legs=bool(rng.random() < 0.7),
        neckline=float(rng.uniform(0.1, 0.3)))


def sample_scene(
    rng: np.random.Generator,
    size_range: Tuple[int, int] = (192, 320),
    max_people: int = 6
) -> Tuple[int, int, List[Tuple[Figure, Placement, Outfit]], int]:
    """Image size, figures (farthest first) and the number of occluding objects
    of one random image.

    Sides are drawn independently from ``size_range`` (so aspect ratios vary);
    1..``max_people`` figures of 0.3..0.95 image heights are placed so that
    some stand partly outside the image; smaller figures count as farther and
    are drawn first, so nearer ones occlude them.
    """
    h, w = (
        int(rng.integers(size_range[0], size_range[1] + 1)) for _ in range(2))
    weights = np.array([0.3, 0.25, 0.2, 0.12, 0.08, 0.05])[:max_people]
    n = int(
        rng.choice(np.arange(1,
                             len(weights) + 1), p=weights / weights.sum()))
    lo, hi = (0.45, 0.95) if n == 1 else (0.3, 0.85)
    figures = []
    for _ in range(n):
        height = rng.uniform(lo, hi) * h
        # Mostly inside; one figure in five may stand half outside the
        # left/right/bottom border.
        x_range = (-0.1, 1.1) if rng.random() < 0.2 else (0.1, 0.9)
        place = Placement(
            x=rng.uniform(*x_range) * w,
            y=rng.uniform(0.35, 0.8) * h,
            height=height)
        figures.append((sample_figure(rng), place, sample_outfit(rng)))
    figures.sort(key=lambda f: f[1].height)
    num_objects = int(rng.random() < 0.25) + int(rng.random() < 0.1)
    return h, w, figures, num_objects


APPEARANCES = ('default', 'shifted')


def camera(img: np.ndarray,
           rng: np.random.Generator,
           appearance: str = 'default') -> np.ndarray:
    """Exposure and colour balance, optical blur and sensor noise on a uint8
    image.

    ``'default'``: gain 0.75..1.25 with a slight per-channel white balance (±8
    %), blur sigma 0..1 px, noise std 0..6. ``'shifted'``: 70..100 %
    desaturated, gain 0.35..0.6, a blue tint, blur sigma 1..2 px and noise std
    8..16.
    """
    if appearance not in APPEARANCES:
        raise ValueError(
            f'appearance must be one of {APPEARANCES}, got {appearance!r}')
    out = img.astype(np.float32)
    if appearance == 'default':
        out *= rng.uniform(0.75, 1.25) * rng.uniform(0.92, 1.08, 3)
        sigma, noise = rng.uniform(0.0, 1.0), rng.uniform(0.0, 6.0)
    else:
        grey = out.mean(axis=2, keepdims=True)
        out = grey + (1.0 - rng.uniform(0.7, 1.0)) * (out - grey)
        # BGR: blue up, red down
        out *= rng.uniform(0.35, 0.6) * np.array([1.3, 1.0, 0.8], np.float32)
        sigma, noise = rng.uniform(1.0, 2.0), rng.uniform(8.0, 16.0)
    if sigma > 0.3:
        out = cv2.GaussianBlur(out, (0, 0), sigma)
    out += rng.normal(0.0, noise, img.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


def make_image(rng: np.random.Generator,
               size_range: Tuple[int, int] = (192, 320),
               max_people: int = 6,
               appearance: str = 'default'
               ) -> Tuple[np.ndarray, List[RenderedFigure]]:
    """One random image (H, W, 3) uint8 BGR and its figures' keypoints, boxes
    and areas."""
    h, w, figures, num_objects = sample_scene(rng, size_range, max_people)
    img, _, drawn = render(h, w, figures, rng, num_objects=num_objects)
    return camera(img, rng, appearance), drawn
