"""Command line and batch API: images (+ optional COCO boxes) →
``predictions.json`` (COCO results) and skeleton drawings.

    python -m mmpose_ext_runtime MODEL.onnx IMAGES
        [--bboxes COCO_JSON] [--out DIR] [--bbox-thr 0.3] [--nms-thr 0.3]
        [--kpt-thr 0.3] [--det-cat-id 1] [--no-draw] [--threads N]

The arguments are those of ``python -m mmpose_ext.tools.infer`` (whose
``CONFIG CHECKPOINT`` pair is here the one exported file). ``IMAGES`` is an
image or a folder; ``mmpose_ext::fixtures/coco`` names the bundled COCO
images (:mod:`mmpose_ext_runtime.inputs`: unreadable pictures are skipped
with a warning and counted; a missing or empty folder is a one-line error,
exit status 2). ``--bboxes`` takes either a COCO detection-results list
(``image_id``, ``bbox`` xywh, ``score``, ``category_id``; images are matched
by the number in their file name, COCO's ``000000196141.jpg`` → 196141), run
through MMPose's demo rule (scores above ``--bbox-thr``, then box NMS at
``--nms-thr``: :mod:`mmpose_ext_runtime.boxes`), or a COCO annotation file
(``images`` + ``annotations``: the non-crowd people with labelled keypoints,
matched by ``file_name``, score 1, all kept). Without it a top-down model
takes the whole image as one box (as MMPose's ``inference_topdown``) and
image ids are the numbers in the file names (or the image's position). A
one-stage model keeps the instances scoring above ``--bbox-thr``. The result
``score`` is MMPose's ``CocoMetric`` rescoring: box score × mean keypoint
score above 0.2.
"""
import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from .boxes import BBOX_THR, NMS_THR, select_detections
from .core import PoseModel, instance_score
from .inputs import (InputError, list_images, no_readable_image, outcome,
                     read_image, resolve_path, warn_skipped)


def _id_from_name(path: Path) -> Optional[int]:
    return int(path.stem) if path.stem.isdigit() else None


def load_boxes(
    json_path: Union[str, Path],
    cat_id: int = 1
) -> Tuple[Dict[str, int], Dict[int, List[Tuple[np.ndarray, float]]], bool]:
    """A COCO box file → (file name → image id (annotation files only), image
    id → [(xyxy float32, score)], whether they are detections).

    Detection results keep category ``cat_id``; an annotation file its
    non-crowd people with labelled keypoints (score 1). Raises
    :class:`InputError` for a file that is neither.
    """
    path = resolve_path(json_path, 'box file')
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f'box file {path} is not JSON: {e}') from None
    names, boxes = {}, {}
    if isinstance(data, dict) and 'annotations' in data:
        names = {im['file_name']: im['id'] for im in data.get('images', [])}
        entries = [
            dict(a, score=1.0) for a in data.get('annotations', [])
            if not a.get('iscrowd', 0) and a.get('num_keypoints', 1) > 0
        ]
    elif isinstance(data, list) and all(
            isinstance(d, dict) and {'image_id', 'bbox'} <= set(d)
            for d in data):
        entries = [d for d in data if d.get('category_id', cat_id) == cat_id]
    else:
        raise InputError(
            f'box file {path}: expected COCO detection results (a list of '
            '{"image_id", "bbox": [x, y, w, h], "score", "category_id"}) or '
            'a COCO annotation file')
    for entry in entries:
        x, y, w, h = entry['bbox']
        boxes.setdefault(entry['image_id'], []).append(
            (np.array([x, y, x + w, y + h],
                      dtype=np.float32), float(entry.get('score', 1.0))))
    return names, boxes, isinstance(data, list)


def load_model(path: Union[str, Path],
               threads: Optional[int] = None) -> PoseModel:
    """The exported model; a file onnxruntime cannot load, or one without our
    metadata, is an :class:`InputError` naming it."""
    path = resolve_path(path, 'model')
    try:
        return PoseModel(str(path), threads=threads)
    except Exception as e:  # onnxruntime's own error types, our ValueError
        reason = str(e).strip().splitlines()[0] if str(e).strip() else repr(e)
        raise InputError(f'model {path}: {reason}') from None


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
        bbox_thr: float = 0.0,
        nms_thr: Optional[float] = None,
        threads: Optional[int] = None,
        draw_images: bool = True,
        det_cat_id: int = 1) -> Dict:
    """Predict every image; write ``out/predictions.json`` (and
    ``out/vis/*.jpg``) when ``out`` is given.

    ``images``: an image, a folder or a list of files (strings may be
    ``mmpose_ext::fixtures/...`` names). Pictures that cannot be decoded are
    skipped with a warning on stderr (``skipped`` in the result); the others
    are predicted and written. Detection results (``bboxes`` a COCO results
    list) keep the boxes scoring above ``bbox_thr`` and then those box NMS at
    ``nms_thr`` keeps (None: no NMS); a one-stage model keeps the instances
    scoring above ``bbox_thr``. The defaults here keep everything; the
    command line has MMPose's demo defaults (0.3, 0.3).

    Returns:
        dict: ``results`` (the COCO results list), ``images``: per image read
        its ``file``, ``image_id`` and the raw prediction (``keypoints`` (N,
        K, 2), ``keypoint_scores``, ``bboxes``, ``bbox_scores``), and
        ``skipped`` / ``ignored`` (unreadable pictures, a folder's non-image
        files).

    Raises:
        InputError: A missing path, a folder without pictures, no readable
            picture, or a box file that is not COCO's.
    """
    if isinstance(images, (str, Path)):
        files, ignored = list_images(images)
    else:
        files, ignored = [resolve_path(p, 'image') for p in images], []
    names, boxes, detections = load_boxes(
        bboxes, det_cat_id) if bboxes is not None else ({}, None, False)
    if not isinstance(model, PoseModel):
        model = load_model(model, threads)
    out = Path(out) if out is not None else None
    results, per_image, skipped = [], [], []
    for index, path in enumerate(files):
        image = read_image(path)
        if image is None:
            warn_skipped('mmpose_ext_runtime', path)
            skipped.append(path)
            continue
        image_id = names.get(path.name, _id_from_name(path))
        if image_id is None:
            image_id = index
        if boxes is not None and not model.bottomup:
            entries = boxes.get(image_id, [])
            if entries and detections:
                entries = [
                    entries[i] for i in select_detections(
                        np.stack([b for b, _ in entries]),
                        np.array([s for _, s in entries]), bbox_thr, nms_thr)
                ]
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
            if model.bottomup:
                keep = pred['bbox_scores'] > bbox_thr
                pred = {k: v[keep] for k, v in pred.items()}
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
    if len(skipped) == len(files):
        raise no_readable_image(files)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / 'predictions.json').write_text(json.dumps(results))
    return dict(
        results=results,
        images=per_image,
        skipped=[str(p) for p in skipped],
        ignored=[str(p) for p in ignored])


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog='python -m mmpose_ext_runtime',
        description=__doc__.split('\n\n')[0])
    parser.add_argument(
        'model',
        help='ONNX file exported by mmpose_ext.tools.export_onnx (with its '
        'metadata)')
    parser.add_argument(
        'images',
        help='an image or a folder of images; mmpose_ext::fixtures/coco for '
        'the bundled COCO images')
    parser.add_argument(
        '--bboxes',
        default=None,
        help='COCO detection results or annotation file (xywh boxes); may be '
        'mmpose_ext::fixtures/coco/test_coco_det_AP_H_56.json')
    parser.add_argument(
        '--out',
        default='outputs/runtime',
        help='output folder (predictions.json, vis/)')
    parser.add_argument(
        '--bbox-thr',
        type=float,
        default=BBOX_THR,
        help='keep detections (and one-stage instances) scoring above this '
        '(MMPose\'s demo default)')
    parser.add_argument(
        '--nms-thr',
        type=float,
        default=NMS_THR,
        help='box NMS overlap for detection results, as MMPose\'s demo '
        '(1: no NMS)')
    parser.add_argument(
        '--kpt-thr',
        type=float,
        default=0.3,
        help='keypoints drawn above this score')
    parser.add_argument(
        '--det-cat-id',
        type=int,
        default=1,
        help='detection category of people in --bboxes')
    parser.add_argument(
        '--no-draw',
        action='store_true',
        help='write predictions.json only (no vis/)')
    parser.add_argument(
        '--threads', type=int, default=None, help='onnxruntime threads')
    return parser.parse_args(argv)


def main(argv=None) -> Dict:
    """Run the command line; returns :func:`run`'s summary.

    Raises :class:`InputError`.
    """
    args = parse_args(argv)
    summary = run(args.model, args.images, args.bboxes, args.out, args.kpt_thr,
                  args.bbox_thr, args.nms_thr, args.threads, not args.no_draw,
                  args.det_cat_id)
    n_img = len(summary['images']) + len(summary['skipped'])
    print(f'{len(summary["results"])} instances in '
          f'{len(summary["images"])} images -> '
          f'{Path(args.out) / "predictions.json"} (' +
          outcome(n_img, [Path(p) for p in summary['skipped']],
                  [Path(p) for p in summary['ignored']]) + ')')
    return summary


def cli(argv=None) -> int:
    """:func:`main` with bad input reported in one line and exit status 2
    (no traceback)."""
    try:
        main(argv)
    except InputError as e:
        print(f'mmpose_ext_runtime: error: {e}', file=sys.stderr)
        return 2
    return 0
