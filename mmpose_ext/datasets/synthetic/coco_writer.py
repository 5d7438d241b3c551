"""Write generated images as a COCO-format keypoint dataset (+ a detection-box
file in MMPose's format).

Layout of a generated root::

    root/train/000000000001.jpg ...
    root/val/001000000001.jpg ...
    root/val_shifted/002000000001.jpg ...
        (optional: held-out people under the 'shifted' appearance)
    root/annotations/person_keypoints_train.json
                     person_keypoints_val.json
                     person_keypoints_val_shifted.json
                     person_detections_val.json
        (detections: list of {image_id, category_id, bbox, score})
    root/meta.json
        (the parameters; ``ensure_dataset`` compares them)

Keypoint names, skeleton and sigmas come from MMPose's dataset metainfo
(``coco`` or ``crowdpose``), so K is never hard-coded: the layout picks its
keypoints from the body model by name. Every image has its own random stream
``default_rng([seed, split, index])``, so a dataset is the same for any number
of worker processes.
"""
import json
import multiprocessing
import time
from functools import partial
from pathlib import Path
from typing import Dict, List, Tuple

import cv2
import numpy as np

from .body import KEYPOINTS
from .scene import make_image

LAYOUTS = {'coco': 'coco.py', 'crowdpose': 'crowdpose.py'}
SPLITS = {'train': 0, 'val': 1, 'val_shifted': 2}
#: The camera regime of each split (``scene.camera``).
APPEARANCE = {'train': 'default', 'val': 'default', 'val_shifted': 'shifted'}
IMAGE_ID_BASE = 1_000_000_000  # image id = split code * base + index + 1
# 2: faces, necklines, shading, outdoor scenes, exposure, val_shifted; 3: yaw
# prior
GENERATOR_VERSION = 3


def layout_metainfo(layout: str) -> dict:
    """MMPose's parsed metainfo of ``layout`` ('coco' -> K=17, 'crowdpose' ->
    K=14)."""
    import mmpose
    from mmpose.datasets.datasets.utils import parse_pose_metainfo
    if layout not in LAYOUTS:
        raise ValueError(
            f'unknown layout {layout!r}; choose from {sorted(LAYOUTS)}')
    base = Path(
        mmpose.__file__).parent / '.mim' / 'configs' / '_base_' / 'datasets'
    return parse_pose_metainfo(dict(from_file=str(base / LAYOUTS[layout])))


def coco_category(metainfo: dict) -> dict:
    """COCO's person category with the layout's keypoint names and 1-based
    skeleton."""
    names = [
        metainfo['keypoint_id2name'][i]
        for i in range(metainfo['num_keypoints'])
    ]
    return dict(
        supercategory='person',
        id=1,
        name='person',
        keypoints=names,
        skeleton=[[int(a) + 1, int(b) + 1]
                  for a, b in metainfo['skeleton_links']])


def crowd_index(keypoints: np.ndarray, boxes: np.ndarray) -> float:
    """CrowdPose's crowd index: mean over people of (others' labelled joints in
    my box) / (my labelled joints).

    Args:
        keypoints: (N, K, 3) x, y, v.   boxes: (N, 4) xywh.
    """
    ratios = []
    for i, (x, y, w, h) in enumerate(boxes):
        own = int((keypoints[i, :, 2] > 0).sum())
        if own == 0:
            continue
        # (sum of others' K, 3)
        others = np.delete(keypoints, i, axis=0).reshape(-1, 3)
        others = others[others[:, 2] > 0]
        inside = (others[:, 0] >= x) & (others[:, 0]
                                        <= x + w) & (others[:, 1] >= y) & (
                                            others[:, 1] <= y + h)
        ratios.append(inside.sum() / own)
    return float(np.mean(ratios)) if ratios else 0.0


def _one_image(index: int, root: Path, split: str, seed: int,
               kpt_index: List[int], crowd: bool, size_range: Tuple[int, int],
               max_people: int) -> Tuple[dict, List[dict], List[dict]]:
    """Render, save and annotate image ``index`` of ``split`` (runs in a
    worker)."""
    rng = np.random.default_rng([seed, SPLITS[split], index])
    img, figures = make_image(rng, size_range, max_people, APPEARANCE[split])
    image_id = SPLITS[split] * IMAGE_ID_BASE + index + 1
    file_name = f'{image_id:012d}.jpg'
    cv2.imwrite(
        str(root / split / file_name), img, [cv2.IMWRITE_JPEG_QUALITY, 90])
    image = dict(
        id=image_id,
        file_name=file_name,
        height=int(img.shape[0]),
        width=int(img.shape[1]))
    anns, dets, kpts, boxes = [], [], [], []
    det_rng = np.random.default_rng([seed, SPLITS[split], index, 1])
    for j, fig in enumerate(figures):
        x, y, w, h = fig.bbox
        if w < 2 or h < 2:
            continue  # entirely outside the image
        kp = fig.keypoints[kpt_index]  # (K, 3) in the layout's order
        kpts.append(kp)
        boxes.append(fig.bbox)
        anns.append(
            dict(
                id=image_id * 100 + j,
                image_id=image_id,
                category_id=1,
                iscrowd=0,
                bbox=[round(v, 2) for v in fig.bbox],
                area=fig.area,
                num_keypoints=int((kp[:, 2] > 0).sum()),
                keypoints=[round(float(v), 2) for v in kp.reshape(-1)]))
        # A simulated detector: the box jittered by ~5 % of its size, a score
        # in [0.5, 1).
        jitter = det_rng.normal(0.0, 0.05, 4) * np.array([w, h, w, h])
        dets.append(
            dict(
                image_id=image_id,
                category_id=1,
                score=round(float(det_rng.uniform(0.5, 1.0)), 4),
                bbox=[round(float(v), 2)
                      for v in np.array(fig.bbox) + jitter]))
    if crowd:
        image['crowdIndex'] = round(
            crowd_index(
                np.array(kpts).reshape(-1, len(kpt_index), 3),
                np.array(boxes).reshape(-1, 4)), 4)
    return image, anns, dets


def _progress(total: int, desc: str):
    """tqdm when installed, else MMEngine's ProgressBar; both get
    ``.update()``."""
    try:
        from tqdm import tqdm
        return tqdm(total=total, desc=desc, unit='img')
    except ImportError:  # pragma: no cover - tqdm is in the dev environment
        from mmengine.utils import ProgressBar
        return ProgressBar(total)


def generate_split(root,
                   split: str,
                   num_images: int,
                   seed: int = 0,
                   layout: str = 'coco',
                   workers: int = 0,
                   size_range: Tuple[int, int] = (192, 320),
                   max_people: int = 6,
                   progress: bool = True) -> Dict[str, object]:
    """Generate ``num_images`` images of ``split`` under ``root``; return the
    written files and the speed."""
    if split not in SPLITS:
        raise ValueError(
            f'split must be one of {sorted(SPLITS)}, got {split!r}')
    if num_images < 1:
        raise ValueError(f'num_images must be >= 1, got {num_images}')
    root = Path(root)
    (root / split).mkdir(parents=True, exist_ok=True)
    (root / 'annotations').mkdir(parents=True, exist_ok=True)
    metainfo = layout_metainfo(layout)
    names = [
        metainfo['keypoint_id2name'][i]
        for i in range(metainfo['num_keypoints'])
    ]
    missing = [n for n in names if n not in KEYPOINTS]
    if missing:
        raise ValueError(
            f'layout {layout!r} needs keypoints the body model lacks: '
            f'{missing}')
    work = partial(
        _one_image,
        root=root,
        split=split,
        seed=seed,
        kpt_index=[KEYPOINTS.index(n) for n in names],
        crowd=layout == 'crowdpose',
        size_range=tuple(size_range),
        max_people=max_people)

    t0 = time.time()
    bar = _progress(num_images, f'{split} images') if progress else None
    results = []
    pool = multiprocessing.get_context('fork').Pool(
        workers) if workers > 0 else None
    try:
        images = pool.imap(
            work, range(num_images), chunksize=4) if pool else map(
                work, range(num_images))
        for res in images:
            results.append(res)
            if bar is not None:
                bar.update()
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    if bar is not None and hasattr(bar, 'close'):
        bar.close()
    seconds = time.time() - t0

    coco = dict(
        info=dict(
            description=
            f'mmpose_ext synthetic figures ({layout}, seed {seed}, {split})',
            version=str(GENERATOR_VERSION)),
        images=[r[0] for r in results],
        annotations=[a for r in results for a in r[1]],
        categories=[coco_category(metainfo)])
    ann_file = root / 'annotations' / f'person_keypoints_{split}.json'
    ann_file.write_text(json.dumps(coco))
    det_file = root / 'annotations' / f'person_detections_{split}.json'
    det_file.write_text(json.dumps([d for r in results for d in r[2]]))
    return dict(
        ann_file=str(ann_file),
        det_file=str(det_file),
        images=num_images,
        instances=len(coco['annotations']),
        seconds=round(seconds, 2),
        images_per_second=round(num_images / max(seconds, 1e-9), 1))


def generate_dataset(root,
                     num_train: int,
                     num_val: int,
                     seed: int = 0,
                     layout: str = 'coco',
                     workers: int = 0,
                     size_range: Tuple[int, int] = (192, 320),
                     max_people: int = 6,
                     progress: bool = True,
                     num_val_shifted: int = 0) -> Dict[str, object]:
    """Generate the train and val splits (and ``num_val_shifted`` images of the
    ``val_shifted`` split, when.

    > 0) and ``meta.json``; return the per-split summaries.
    """
    params = dict(
        num_train=num_train,
        num_val=num_val,
        seed=seed,
        layout=layout,
        size_range=list(size_range),
        max_people=max_people,
        version=GENERATOR_VERSION,
        num_val_shifted=num_val_shifted)
    summary = dict(params=params)
    splits = (('train', num_train), ('val', num_val), ('val_shifted',
                                                       num_val_shifted))
    for split, n in splits:
        if split == 'val_shifted' and n == 0:
            continue
        summary[split] = generate_split(root, split, n, seed, layout, workers,
                                        size_range, max_people, progress)
    (Path(root) / 'meta.json').write_text(json.dumps(summary, indent=2))
    return summary


def ensure_dataset(root,
                   num_train: int = 1000,
                   num_val: int = 200,
                   seed: int = 0,
                   layout: str = 'coco',
                   workers: int = 0,
                   progress: bool = True,
                   num_val_shifted: int = 0) -> Path:
    """Generate the dataset under ``root`` unless one with exactly these
    parameters is already there."""
    root = Path(root)
    meta = root / 'meta.json'
    want = dict(
        num_train=num_train,
        num_val=num_val,
        seed=seed,
        layout=layout,
        num_val_shifted=num_val_shifted)
    if meta.is_file():
        have = json.loads(meta.read_text()).get('params', {})
        if all(have.get(k) == v for k, v in want.items()) and have.get(
                'version') == GENERATOR_VERSION:
            return root
    generate_dataset(
        root,
        num_train,
        num_val,
        seed,
        layout,
        workers,
        progress=progress,
        num_val_shifted=num_val_shifted)
    return root


def ensure_for_config(cfg, workers: int = 0, progress: bool = True) -> Path:
    """Generate the dataset a config trains on, if missing: the root is its
    train dataset's ``data_root``, the parameters its ``synthetic`` dict
    (``num_train``, ``num_val``, ``seed``, ``layout``, optionally
    ``num_val_shifted``), e.g. the demo's ``configs/demo/td-hm_effnet-
    lite0_synthetic-128x96.py`` (the README main job)."""
    if 'synthetic' not in cfg:
        raise KeyError('the config has no `synthetic = dict(num_train=..., '
                       'num_val=..., seed=..., layout=...)`')
    return ensure_dataset(
        cfg.train_dataloader.dataset.data_root,
        workers=workers,
        progress=progress,
        **cfg.synthetic)
