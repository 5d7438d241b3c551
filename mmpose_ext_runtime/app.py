"""Command line and batch API: images (+ optional COCO boxes) →
``predictions.json`` (COCO results) and skeleton drawings.

    python -m mmpose_ext_runtime MODEL.onnx IMAGE_OR_DIR
        [--bboxes COCO_JSON] [--out DIR] [--kpt-thr 0.3]
        [--det-score-thr 0.0] [--threads N] [--no-draw]

``--bboxes`` takes either a COCO detection-results list (``image_id``,
``bbox`` xywh, ``score``; images are matched by the number in their file name,
COCO's ``000000196141.jpg`` → 196141) or a COCO annotation file (``images`` +
``annotations``: the non-crowd people with labelled keypoints, matched by
``file_name``, score 1). Without it a top-down model takes the whole image as
one box (as MMPose's ``inference_topdown``) and image ids are the numbers in
the file names (or the image's position). The result ``score`` is MMPose's
``CocoMetric`` rescoring: box score × mean keypoint score above 0.2.
"""
import argparse
import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from .core import PoseModel, instance_score

IMAGE_SUFFIXES = {'.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff'}


def list_images(path: Union[str, Path]) -> List[Path]:
    path = Path(path)
    if path.is_dir():
        return sorted(p for p in path.iterdir()
                      if p.suffix.lower() in IMAGE_SUFFIXES)
    if not path.exists():
        raise FileNotFoundError(path)
    return [path]


def _id_from_name(path: Path) -> Optional[int]:
    return int(path.stem) if path.stem.isdigit() else None


def load_boxes(
    json_path: Union[str, Path],
    det_score_thr: float = 0.0
) -> Tuple[Dict[str, int], Dict[int, List[Tuple[np.ndarray, float]]]]:
    """A COCO box file → (file name → image id (annotation files only), image
    id → [(xyxy float32, score)])."""
    data = json.loads(Path(json_path).read_text())
    names, boxes = {}, {}
    if isinstance(data, dict):
        names = {im['file_name']: im['id'] for im in data.get('images', [])}
        entries = [
            dict(a, score=1.0) for a in data.get('annotations', [])
            if not a.get('iscrowd', 0) and a.get('num_keypoints', 1) > 0
        ]
    else:
        entries = [
            d for d in data if d.get('category_id', 1) == 1
            and d.get('score', 1.0) >= det_score_thr
        ]
    for entry in entries:
        x, y, w, h = entry['bbox']
        boxes.setdefault(entry['image_id'], []).append(
            (np.array([x, y, x + w, y + h],
                      dtype=np.float32), float(entry.get('score', 1.0))))
    return names, boxes


def draw(image: np.ndarray,
         keypoints: np.ndarray,
         scores: np.ndarray,
         dataset: Dict,
         kpt_thr: float = 0.3,
         bboxes: Optional[np.ndarray] = None) -> np.ndarray:
    """Skeletons on a copy of a BGR image, in the metadata's colours (given as
    RGB)."""
    canvas = image.copy()
    links = dataset.get('skeleton_links', [])
    link_colors = dataset.get('skeleton_link_colors') or [[0, 255, 0]
                                                          ] * len(links)
    kpt_colors = dataset.get('keypoint_colors') or [[255, 0, 0]
                                                    ] * keypoints.shape[1]
    radius = max(2, int(round(max(image.shape[:2]) / 300)))
    limit = 4 * max(image.shape[:2])
    # cv2 takes C ints only
    keypoints = np.nan_to_num(np.clip(keypoints, -limit, limit), nan=-limit)
    if bboxes is not None:
        for b in np.nan_to_num(np.clip(bboxes, -limit, limit), nan=-limit):
            cv2.rectangle(canvas, (int(b[0]), int(b[1])),
                          (int(b[2]), int(b[3])), (0, 255, 0), 1, cv2.LINE_AA)
    for kpts, sc in zip(keypoints, scores):
        for (a, b), color in zip(links, link_colors):
            if a < len(kpts) and b < len(
                    kpts) and sc[a] > kpt_thr and sc[b] > kpt_thr:
                cv2.line(canvas, tuple(int(round(v)) for v in kpts[a]),
                         tuple(int(round(v)) for v in kpts[b]),
                         tuple(int(c) for c in color[::-1]),
                         max(1, radius // 2 + 1), cv2.LINE_AA)
        for (x, y), s, color in zip(kpts, sc, kpt_colors):
            if s > kpt_thr:
                cv2.circle(canvas, (int(round(x)), int(round(y))), radius,
                           tuple(int(c) for c in color[::-1]), -1, cv2.LINE_AA)
    return canvas


def run(model: Union[str, Path, PoseModel],
        images: Union[str, Path, Sequence[Union[str, Path]]],
        bboxes: Optional[Union[str, Path]] = None,
        out: Optional[Union[str, Path]] = None,
        kpt_thr: float = 0.3,
        det_score_thr: float = 0.0,
        threads: Optional[int] = None,
        draw_images: bool = True) -> Dict:
    """Predict every image; write ``out/predictions.json`` (and
    ``out/vis/*.jpg``) when ``out`` is given.

    Returns:
        dict: ``results`` (the COCO results list) and ``images``: per image its
            ``file``, ``image_id`` and the
        raw prediction (``keypoints`` (N, K, 2), ``keypoint_scores``,
        ``bboxes``, ``bbox_scores``).
    """
    model = model if isinstance(model, PoseModel) else PoseModel(
        str(model), threads=threads)
    files = list_images(images) if isinstance(
        images, (str, Path)) else [Path(p) for p in images]
    names, boxes = load_boxes(
        bboxes, det_score_thr) if bboxes is not None else ({}, None)
    out = Path(out) if out is not None else None
    results, per_image = [], []
    for index, path in enumerate(files):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f'cannot read image {path}')
        image_id = names.get(path.name, _id_from_name(path))
        if image_id is None:
            image_id = index
        if boxes is not None and not model.bottomup:
            entries = boxes.get(image_id, [])
            if not entries:  # no person detected: nothing to predict
                per_image.append(
                    dict(
                        file=str(path),
                        image_id=image_id,
                        keypoints=np.zeros((0, 0, 2)),
                        keypoint_scores=np.zeros((0, 0)),
                        bboxes=np.zeros((0, 4)),
                        bbox_scores=np.zeros(0)))
                continue
            pred = model.predict(image, np.stack([b for b, _ in entries]))
            pred['bbox_scores'] = np.array([s for _, s in entries], np.float32)
        else:
            pred = model.predict(image)
        for kpts, sc, bs in zip(pred['keypoints'], pred['keypoint_scores'],
                                pred['bbox_scores']):
            triplets = np.concatenate([kpts, sc[:, None]], 1).reshape(-1)
            results.append(
                dict(
                    image_id=int(image_id),
                    category_id=1,
                    keypoints=[round(float(v), 3) for v in triplets],
                    score=round(instance_score(bs, sc), 6)))
        per_image.append(dict(file=str(path), image_id=image_id, **pred))
        if out is not None and draw_images:
            (out / 'vis').mkdir(parents=True, exist_ok=True)
            cv2.imwrite(
                str(out / 'vis' / f'{path.stem}.jpg'),
                draw(image, pred['keypoints'], pred['keypoint_scores'],
                     model.dataset, kpt_thr, pred['bboxes']))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / 'predictions.json').write_text(json.dumps(results))
    return dict(results=results, images=per_image)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog='python -m mmpose_ext_runtime',
        description=__doc__.split('\n\n')[0])
    parser.add_argument(
        'model', help='ONNX file exported by mmpose_ext (with its metadata)')
    parser.add_argument('images', help='an image or a folder of images')
    parser.add_argument(
        '--bboxes',
        default=None,
        help='COCO detection results or annotation file (xywh boxes)')
    parser.add_argument(
        '--out',
        default='outputs/runtime',
        help='where predictions.json and vis/ go')
    parser.add_argument(
        '--kpt-thr',
        type=float,
        default=0.3,
        help='keypoints drawn above this score')
    parser.add_argument(
        '--det-score-thr',
        type=float,
        default=0.0,
        help='detections kept from this score')
    parser.add_argument(
        '--threads', type=int, default=None, help='onnxruntime threads')
    parser.add_argument(
        '--no-draw', action='store_true', help='write predictions.json only')
    return parser.parse_args(argv)


def main(argv=None) -> Dict:
    args = parse_args(argv)
    summary = run(args.model, args.images, args.bboxes, args.out, args.kpt_thr,
                  args.det_score_thr, args.threads, not args.no_draw)
    n_img, n_inst = len(summary['images']), len(summary['results'])
    print(f'{n_inst} instances in {n_img} images -> '
          f'{Path(args.out) / "predictions.json"}')
    return summary
