"""Keypoints on pictures from a trained model, through MMPose's own inference
API and visualizer.

    python -m mmpose_ext.tools.infer CONFIG CHECKPOINT IMAGES \
        [--bboxes COCO_DET_JSON] [--out DIR] [--device cpu] \
        [--bbox-thr 0.3] [--nms-thr 0.3] [--kpt-thr 0.3] [--det-cat-id 1] \
        [--no-draw] [--cfg-options K=V ...]

``CONFIG`` is a file or a packaged name (``mmpose_ext::demo/NAME.py``);
``IMAGES`` an image or a folder, ``mmpose_ext::fixtures/coco`` for the
bundled COCO images (the arguments of every tool: :mod:`mmpose_ext.tools.cli`).
Top-down models (Poseur, TokenPose, SineCC, RLE, SCAI, MMPose's heads) take
their boxes from a COCO detection results file (``--bboxes``: a list of
``{image_id, bbox: [x, y, w, h], score, category_id}``, e.g.
``mmpose_ext::fixtures/coco/test_coco_det_AP_H_56.json``), whose image ids are
matched to the images' numeric file stems (``000000000785.jpg`` is image
785); without one, each whole image is the box. The detections go through
MMPose's demo rule (``demo/topdown_demo_with_mmdet.py``) with its defaults:
the boxes of category ``--det-cat-id`` scoring above ``--bbox-thr`` (0.3),
then box NMS at ``--nms-thr`` (0.3; 1 turns it off) with MMPose's ``nms``.
One-stage models (``BottomupPoseEstimator``, e.g. RTMO with
``RTMOSineCCHead``) need no boxes; they keep the instances scoring above
``--bbox-thr`` (after the model's own ``test_cfg.score_thr`` and NMS).
The predictions go through ``mmpose.apis.inference_topdown`` /
``inference_bottomup``; the skeletons are drawn by MMPose's
``PoseLocalVisualizer`` into ``OUT/vis/`` (not with ``--no-draw``) and the
people are written as COCO keypoint results to ``OUT/predictions.json``:
``image_id``, ``category_id``, ``keypoints`` (x, y, score triplets in image
pixels) and ``score``, scored as the config's ``CocoMetric`` does
(``score_mode``, default ``'bbox_keypoint'``: the box score times the mean of
the keypoint scores above ``keypoint_score_thr``, 0.2; RTMO's configs:
``'bbox'``), without its OKS NMS. Without ``--bboxes`` the image ids are the
numeric file stems when every readable image has one, else their order (0,
1, ...); ``OUT/image_ids.json`` maps file → id. ``--kpt-thr`` only hides
low-scoring keypoints in the drawings.

The checkpoint is loaded strictly (a checkpoint of another model is a
``CheckpointError`` listing the keys); its ``meta.dataset_meta`` wins over
the config's, as in MMPose's ``init_model``. Configs without a top-level
``data_mode`` (ours under ``configs/synthetic``) get it from the model type.
A picture that cannot be decoded is skipped with a warning naming it and
counted in the summary; the others are predicted and written. Bad input (a
missing config, checkpoint, image or folder, a folder without images, no
readable image, a detection file matching no image, another model's
checkpoint) exits with status 2 and one line saying what is wrong.
"""
import argparse
import json
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from mmpose_ext_runtime.boxes import BBOX_THR, NMS_THR
from mmpose_ext_runtime.core import instance_score
from mmpose_ext_runtime.inputs import (InputError, few, list_images,
                                       no_readable_image, outcome, read_image,
                                       resolve_path, warn_skipped)
from .cli import resolve_checkpoint, resolve_config, run_cli

#: Bad input to the tool (the runtime's :class:`InputError`): the message
#: says what and where.
InferError = InputError


def parse_args(argv=None):
    from mmengine.config import DictAction

    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument(
        'config',
        help='model config: a file or a packaged name '
        '(mmpose_ext::demo/NAME.py)')
    parser.add_argument(
        'checkpoint', help='trained weights (an MMEngine checkpoint)')
    parser.add_argument(
        'images',
        help='an image or a folder of images; mmpose_ext::fixtures/coco for '
        'the bundled COCO images')
    parser.add_argument(
        '--bboxes',
        default=None,
        help='COCO detection results JSON (image_id, bbox xywh, score, '
        'category_id) for a top-down model, e.g. '
        'mmpose_ext::fixtures/coco/test_coco_det_AP_H_56.json; image ids are '
        'matched to numeric file stems. Default: the whole image')
    parser.add_argument(
        '--out',
        default='outputs/infer',
        help='output folder (predictions.json, image_ids.json, vis/)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument(
        '--bbox-thr',
        type=float,
        default=BBOX_THR,
        help='keep detections (and one-stage instances) scoring above this '
        '(MMPose\'s demo default %(default)s)')
    parser.add_argument(
        '--nms-thr',
        type=float,
        default=NMS_THR,
        help='box NMS overlap for --bboxes detections, with MMPose\'s nms '
        '(MMPose\'s demo default %(default)s; 1: no NMS)')
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
        '--cfg-options',
        nargs='+',
        action=DictAction,
        default=None,
        help='override config keys, as in MMPose\'s tools (e.g. '
        'model.test_cfg.flip_test=False)')
    return parser.parse_args(argv)


# -------------------------------------------------------------------------------------------------
# inputs
def image_ids(images: Sequence[Path]) -> Dict[Path, int]:
    """Numeric file stems when every image has a distinct one, else the file
    order (0, 1, ...)."""
    stems = [p.stem for p in images]
    if all(s.isdigit() for s in stems) and len({int(s)
                                                for s in stems}) == len(stems):
        return {p: int(p.stem) for p in images}
    return {p: i for i, p in enumerate(images)}


def read_detections(path,
                    images: Sequence[Path],
                    cat_id: int = 1) -> Dict[Path, np.ndarray]:
    """The boxes of each image from a COCO detection results file: {image: (n,
    5) x, y, w, h, score}, the file's numbers as they are (float64).

    Image ids are matched to the images' numeric file stems. Raises
    :class:`InferError` when the file is missing or not a list of detections,
    or when none of its image ids (of category ``cat_id``) is an image's.
    """
    path = resolve_path(path, 'detection file')
    try:
        dets = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InferError(f'detection file {path} is not JSON: {e}') from None
    if not isinstance(dets, list) or any(
            not isinstance(d, dict) or not {'image_id', 'bbox'} <= set(d)
            for d in dets):
        raise InferError(
            f'detection file {path}: expected COCO detection results, a '
            'list of '
            '{"image_id", "bbox": [x, y, w, h], "score", "category_id"}')
    by_stem = {int(p.stem): p for p in images if p.stem.isdigit()}
    boxes: Dict[Path, list] = {}
    ids = set()
    for d in dets:
        if d.get('category_id', cat_id) != cat_id:
            continue
        ids.add(d['image_id'])
        image = by_stem.get(d['image_id'])
        if image is None:
            continue
        boxes.setdefault(image, []).append(
            [*(float(v) for v in d['bbox']),
             float(d.get('score', 1.0))])
    if not boxes:
        raise InferError(
            f'detection file {path}: none of its {len(ids)} image ids of '
            f'category {cat_id} '
            f'({few(sorted(ids))}) is the numeric file stem of an image '
            f'({few([p.name for p in images])})')
    return {
        image: np.array(b, dtype=np.float64).reshape(-1, 5)
        for image, b in boxes.items()
    }


# --------------------------------------------------------------------------------------------------
# model
def load_config(config, cfg_options: Optional[dict] = None):
    """The config with ``cfg_options`` merged and a top-level ``data_mode``
    (read by MMPose's inferencer) filled in from the model type when it has
    none."""
    from mmengine.config import Config

    cfg = Config.fromfile(str(
        resolve_config(config))) if not isinstance(config, Config) else config
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if 'data_mode' not in cfg:
        cfg.data_mode = 'bottomup' if cfg.model.get(
            'type') == 'BottomupPoseEstimator' else 'topdown'
    return cfg


def load_model(cfg, checkpoint, device: str = 'cpu'):
    """MMPose's ``init_model`` with the checkpoint loaded strictly
    (mmpose_ext.checkpoint); the checkpoint's ``meta.dataset_meta`` wins over
    the config's."""
    from mmpose.apis import init_model

    from mmpose_ext.checkpoint import load_checkpoint_strict

    checkpoint = resolve_checkpoint(checkpoint)
    # cfg_options={}: without it init_model reads cfg.model.backbone, which a
    # wrapper model (SCAI) has not
    model = init_model(cfg, None, device='cpu', cfg_options={})
    meta = (load_checkpoint_strict(model, str(checkpoint)).get('meta')
            or {}).get('dataset_meta')
    if meta:
        model.dataset_meta = meta
    return model.to(device).eval()


def _score_rule(cfg):
    """(score_mode, keypoint_score_thr) of the config's CocoMetric (MMPose's
    defaults without one)."""
    evaluators = cfg.get('test_evaluator') or []
    for metric in evaluators if isinstance(evaluators,
                                           (list, tuple)) else [evaluators]:
        if metric.get('type') == 'CocoMetric':
            return metric.get('score_mode', 'bbox_keypoint'), metric.get(
                'keypoint_score_thr', 0.2)
    return 'bbox_keypoint', 0.2


def person_score(bbox_score: float,
                 keypoint_scores: np.ndarray,
                 mode: str = 'bbox_keypoint',
                 keypoint_score_thr: float = 0.2) -> float:
    """A person's score as MMPose's ``CocoMetric`` gives it
    (``score_mode``)."""
    if mode == 'bbox':
        return float(bbox_score)
    if mode == 'keypoint':
        return float(np.mean(keypoint_scores))
    if mode == 'bbox_rle':
        return float(bbox_score + np.mean(keypoint_scores) +
                     np.max(keypoint_scores))
    # 'bbox_keypoint', as the runtime
    return instance_score(bbox_score, keypoint_scores, keypoint_score_thr)


def select_boxes(boxes: np.ndarray,
                 bbox_thr: float = BBOX_THR,
                 nms_thr: Optional[float] = NMS_THR) -> np.ndarray:
    """The detections MMPose's demo keeps, in their given order: scores above
    ``bbox_thr``, then MMPose's box ``nms`` at ``nms_thr`` (None or ``>= 1``:
    none).

    ``boxes``: (n, 5) x, y, w, h, score.
    """
    from mmpose.evaluation.functional import nms

    keep = np.flatnonzero(boxes[:, 4] > bbox_thr)
    if nms_thr is not None and nms_thr < 1 and len(keep) > 1:
        xyxy_score = boxes[keep].copy()
        xyxy_score[:, 2:4] += xyxy_score[:, :2]
        keep = np.sort(keep[nms(xyxy_score, nms_thr)])
    return boxes[keep]


def predict_image(model,
                  image: Path,
                  bottomup: bool,
                  boxes: Optional[np.ndarray] = None,
                  bbox_thr: float = 0.0,
                  nms_thr: Optional[float] = None):
    """One merged ``PoseDataSample`` of an image (``pred_instances`` possibly
    empty), or None when a top-down model has no box on it.

    ``boxes``: (n, 5) x, y, w, h, score, selected by :func:`select_boxes`;
    None = the whole image. A one-stage model keeps the instances scoring
    above ``bbox_thr``.
    """
    from mmpose.apis import inference_bottomup, inference_topdown
    from mmpose.structures import merge_data_samples

    if bottomup:
        sample = inference_bottomup(model, str(image))[0]
        keep = sample.pred_instances.bbox_scores > bbox_thr
        sample.pred_instances = sample.pred_instances[keep]
        return sample
    if boxes is not None:
        boxes = select_boxes(boxes, bbox_thr, nms_thr)
        if len(boxes) == 0:
            return None  # (inference_topdown would use the whole image)
    results = inference_topdown(
        model,
        str(image),
        None if boxes is None else boxes[:, :4],
        bbox_format='xywh')
    if boxes is not None:
        for result, score in zip(results, boxes[:, 4]):
            # not inference_topdown's 1
            result.pred_instances.bbox_scores = np.array([score],
                                                         dtype=np.float32)
    return merge_data_samples(results)


def coco_results(sample, image_id: int, category_id: int, mode: str,
                 keypoint_score_thr: float) -> List[dict]:
    """COCO keypoint results of a sample's people."""
    if sample is None or 'pred_instances' not in sample or len(
            sample.pred_instances) == 0:
        return []
    pred = sample.pred_instances
    rows = []
    for keypoints, scores, bbox_score in zip(pred.keypoints,
                                             pred.keypoint_scores,
                                             pred.bbox_scores):
        triplets = np.concatenate([keypoints[:, :2], scores[:, None]],
                                  axis=1).astype(float)
        rows.append(
            dict(
                image_id=image_id,
                category_id=category_id,
                keypoints=triplets.ravel().tolist(),
                score=person_score(
                    float(bbox_score), scores, mode, keypoint_score_thr)))
    return rows


def build_visualizer(cfg, dataset_meta):
    """MMPose's visualizer of the config (``PoseLocalVisualizer`` by default),
    under its own instance name."""
    from mmpose.registry import VISUALIZERS

    vis_cfg = dict(cfg.get('visualizer') or dict(type='PoseLocalVisualizer'))
    # drawings go to files we name, not to a backend's save_dir
    vis_cfg.pop('vis_backends', None)
    vis_cfg['name'] = f'mmpose_ext_infer_{time.time_ns()}'
    visualizer = VISUALIZERS.build(vis_cfg)
    visualizer.set_dataset_meta(dataset_meta)
    return visualizer


def draw(visualizer, image: Path, sample, out_file: Path,
         kpt_thr: float) -> None:
    import mmcv

    img = mmcv.imread(str(image), channel_order='rgb')
    if sample is None or 'pred_instances' not in sample or len(
            sample.pred_instances) == 0:
        # nobody found: the picture as it is
        mmcv.imwrite(mmcv.rgb2bgr(img), str(out_file))
        return
    visualizer.add_datasample(
        image.stem,
        img,
        data_sample=sample,
        draw_gt=False,
        draw_pred=True,
        draw_bbox=True,
        kpt_thr=kpt_thr,
        show=False,
        out_file=str(out_file))


# -----------------------------------------------------------------------------------------------------
# main
def main(argv=None) -> dict:
    """Run the tool; returns a summary (paths, image ids, number of people,
    skipped and ignored files).

    Raises :class:`InferError`, ``CheckpointError``.
    """
    args = parse_args(argv)
    # before the (slow) imports and model build
    images, ignored = list_images(args.images)
    resolve_checkpoint(args.checkpoint)
    resolve_config(args.config)
    # pictures that cannot be decoded are skipped; ids over the others
    skipped = [image for image in images if read_image(image) is None]
    for image in skipped:
        warn_skipped('infer', image)
    readable = [image for image in images if image not in skipped]
    if not readable:
        raise no_readable_image(images)
    ids = image_ids(readable)

    from mmengine.utils import ProgressBar

    import mmpose_ext  # noqa: F401  (registers our modules)

    cfg = load_config(args.config, args.cfg_options)
    bottomup = cfg.data_mode == 'bottomup'
    detections = None
    if args.bboxes is not None:
        if bottomup:
            print(
                f'infer: a one-stage model needs no boxes; {args.bboxes} is '
                'not used',
                file=sys.stderr)
        else:
            detections = read_detections(args.bboxes, readable,
                                         args.det_cat_id)
    model = load_model(cfg, args.checkpoint, args.device)
    bottomup = bottomup or type(model).__name__ == 'BottomupPoseEstimator'
    mode, kpt_score_thr = _score_rule(cfg)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    visualizer = None
    if not args.no_draw:
        (out / 'vis').mkdir(exist_ok=True)
        visualizer = build_visualizer(cfg, model.dataset_meta)
    results, drawn = [], []
    progress = ProgressBar(
        len(readable), file=sys.stderr) if len(readable) > 1 else None
    for image in readable:
        boxes = None
        if detections is not None:
            boxes = detections.get(image, np.zeros((0, 5)))
        sample = predict_image(model, image, bottomup, boxes, args.bbox_thr,
                               args.nms_thr)
        results += coco_results(sample, ids[image], args.det_cat_id, mode,
                                kpt_score_thr)
        if visualizer is not None:
            drawn.append(out / 'vis' / f'{image.stem}.jpg')
            draw(visualizer, image, sample, drawn[-1], args.kpt_thr)
        if progress is not None:
            progress.update()
    if progress is not None:
        sys.stderr.write('\n')

    read = ids
    predictions = out / 'predictions.json'
    predictions.write_text(json.dumps(results))
    (out / 'image_ids.json').write_text(
        json.dumps({
            str(p): i
            for p, i in read.items()
        }, indent=1))
    print(f'{len(results)} people on {len(read)} images -> {predictions}' +
          (f'; drawings in {out / "vis"}' if drawn else '') +
          f' ({outcome(len(images), skipped, ignored)})')
    return dict(
        predictions=str(predictions),
        vis=[str(p) for p in drawn],
        image_ids={
            str(p): i
            for p, i in read.items()
        },
        num_people=len(results),
        bottomup=bottomup,
        skipped=[str(p) for p in skipped],
        ignored=[str(p) for p in ignored])


def cli(argv=None) -> int:
    """``main`` with bad input reported in one line and exit status 2 (no
    traceback)."""
    return run_cli('infer', main, argv)


if __name__ == '__main__':
    sys.exit(cli())
