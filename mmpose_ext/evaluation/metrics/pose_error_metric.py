"""Box-normalised keypoint metrics for top-down evaluation: PCK, mean error and
the left/right swap rate.

At small training budgets COCO AP stays at 0 long after a model has started to
learn (OKS needs keypoints within a few per cent of the person's scale before
AP moves). These numbers move earlier:

- ``PCK@t``: MMPose's bbox-normalised PCK, computed by MMPose's own
  :func:`mmpose.evaluation.functional.keypoint_pck_accuracy`, exactly as
  ``PCKAccuracy(thr=t, norm_item='bbox')`` computes it;
- ``err/box``: the mean keypoint error as a fraction of the same box size;
- ``LR-swap``: how often a prediction fits better with its left and right sides
  exchanged, the typical failure of a model that has learned "a person" but not
  its orientation.

The metric is top-down only: one person (ground truth and prediction) per data
sample. With ground-truth boxes it scores each sample against its own person.
With detection boxes (an MMPose dataset's ``bbox_file``) the samples carry
MMPose's placeholder keypoints (all at (0, 0), all "visible"); the metric then
matches each detection to an annotated person of the annotation file
(``ann_file``) by box IoU, the way COCO matches detections, and scores it
against that person. Without ``ann_file`` it stops with an error: it never
scores against the placeholders.
"""
from collections import defaultdict
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.fileio import get_local_path, load
from mmengine.logging import MMLogger
from mmengine.structures import BaseDataElement
from mmpose.evaluation.functional import keypoint_pck_accuracy
from mmpose.registry import METRICS
from mmpose.structures.bbox import bbox_overlaps

from mmpose_ext.models.common.instance_arrays import as_array, visibility


@METRICS.register_module()
class BoxNormalizedPoseMetric(BaseMetric):
    """Bbox-normalised PCK, mean error and left/right swap rate of a top-down
    pose estimator.

    Note:
        - K: keypoints per person.
        - N: persons (data samples) evaluated, i.e. not skipped.

    The box size of a person is ``max(w, h)`` of its ground-truth box
    (``gt_instances.bboxes``, xyxy, image coordinates), as in MMPose's
    ``PCKAccuracy(norm_item='bbox')``. A keypoint counts where the ground
    truth's ``keypoints_visible > 0``. Predictions
    (``pred_instances.keypoints``) are in image coordinates, as every MMPose
    top-down estimator returns them.

    Results (each key behind MMEngine's ``prefix``, ``'box_norm'`` unless set:
        ``box_norm/PCK@0.1``):

    - ``PCK@{t}`` for every ``t`` in ``thrs`` (``'{t:g}'`` formatting:
      ``PCK@0.1``, ``PCK@0.05``): MMPose's PCK: per keypoint type the fraction
      of its visible instances with ``|pred − gt| / box size < t``, averaged
      over the keypoint types with at least one visible instance. Equal to
      ``PCKAccuracy(thr=t, norm_item='bbox')`` on the same samples, except that
      skipped instances (below) are left out (MMPose keeps a box with one zero
      side).
    - ``err/box``: ``|pred − gt| / box size``, averaged over all visible
      keypoints of all evaluated persons pooled together (every visible
      keypoint weighs the same, so persons with more visible keypoints weigh
      more). 0 is perfect; a no-skill mean pose is typically 0.1–0.3.
    - ``LR-swap``: the fraction of persons whose prediction is closer to the
      ground truth with every left/right pair exchanged
      (``dataset_meta['flip_indices']``). Per person, over the keypoints ``k``
      visible together with their mirror ``flip[k]``, the mean of
      ``|pred[k] − gt[k]|`` is compared with the mean of
      ``|pred[flip[k]] − gt[k]|``; a strictly lower swapped error counts as a
      swap. Self-mirrored keypoints (nose) add the same to both. The
      denominator is the number of persons with at least one visible left/right
      pair (others are left out); NaN when there is none.
    - ``num_instances``: persons evaluated (N); ``num_skipped``: data samples
      skipped because their person has no visible keypoint or a box of zero
      area (they never count, and never produce NaN).

    Detection boxes (samples whose ground truth is MMPose's placeholder: every
    keypoint at (0, 0) and visible, as its COCO-style datasets make them from
    a ``bbox_file``): per image, the detections are taken from the highest
    ``bbox_scores`` down, and each is matched to the not yet matched annotated
    person of ``ann_file`` with the highest box IoU, if that IoU is at least
    ``match_iou``. An annotated person is one that is not a crowd, has at
    least one labelled keypoint (``v > 0``) and a box of positive area. A
    matched detection is scored as above against its person (that person's
    labelled keypoints and box). Matching looks at boxes only, so a poor pose
    on a good box is scored, not dropped. Three more keys then say what was
    left out: ``num_unmatched`` (detections matched to nobody: false or
    duplicate detections), ``num_missed`` (annotated people of the images
    tested that no detection matched: the detector's misses, which a pose
    metric cannot score) and ``num_matched``.

    Args:
        thrs (Sequence[float]): PCK thresholds, fractions of the box size.
            Defaults to (0.1, 0.2).
        ann_file (str, optional): The COCO-format annotation file of the test
            set, needed only with detection boxes (where it gives the people
            to score against). Our configs set it to the ``CocoMetric``'s.
        match_iou (float): The box IoU a detection needs to be matched to an
            annotated person. Defaults to 0.5.
        collect_device (str): ``'cpu'`` or ``'gpu'``, where results are
            gathered in distributed runs.
        prefix (str, optional): prefix of the result keys; ``'box_norm'`` when
            None.

    Raises (in ``process``):
        ValueError: a sample with more than one predicted or ground-truth
            person (a bottom-up model: this metric is top-down only),
            prediction and ground truth with different K, ``flip_indices``
            whose length is not K, or detection boxes without ``ann_file``.
    """

    default_prefix: Optional[str] = 'box_norm'

    def __init__(self,
                 thrs: Sequence[float] = (0.1, 0.2),
                 ann_file: Optional[str] = None,
                 match_iou: float = 0.5,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if not 0 < match_iou <= 1:
            raise ValueError(f'match_iou must be in (0, 1], got {match_iou}')
        self.ann_file = ann_file
        self.match_iou = float(match_iou)
        self._people: Optional[Dict[int, List[dict]]] = None
        thrs = tuple(float(t) for t in thrs)
        if not thrs or any(t <= 0 for t in thrs):
            raise ValueError(
                'thrs must be a non-empty sequence of positive fractions, '
                f'got {thrs}')
        if len({f'{t:g}' for t in thrs}) != len(thrs):
            raise ValueError(f'thrs must be distinct, got {thrs}')
        self.thrs = thrs

    def _flip_indices(self, sample: dict, num_keypoints: int) -> np.ndarray:
        """(K,) mirror index of every keypoint, from ``dataset_meta`` or else
        the sample's metainfo."""
        flip = (self.dataset_meta or {}).get('flip_indices',
                                             sample.get('flip_indices'))
        if flip is None:
            raise ValueError(
                f'{type(self).__name__} needs flip_indices (dataset_meta or '
                'the data samples) '
                'for its left/right swap rate')
        flip = np.asarray(flip, dtype=np.int64)
        if flip.shape != (num_keypoints, ):
            raise ValueError(
                f'flip_indices has {flip.size} entries but the poses have '
                f'K={num_keypoints}')
        return flip

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Store, per data sample, what ``compute_metrics`` needs.

        Args:
            data_batch: the batch from the dataloader (unused).
            data_samples: MMPose data samples as dicts (MMEngine's
                ``Evaluator`` converts them) or ``PoseDataSample``;
                ``pred_instances.keypoints`` (1, K, 2),
                ``gt_instances.keypoints`` (1, K, 2),
                ``gt_instances.keypoints_visible`` (1, K) or (1, K, 2),
                ``gt_instances.bboxes`` (1, 4) xyxy.
        """
        for sample in data_samples:
            if isinstance(sample, BaseDataElement):
                sample = sample.to_dict()
            pred, gt = sample['pred_instances'], sample['gt_instances']
            pred_kpts, gt_kpts = as_array(pred['keypoints']), as_array(
                gt['keypoints'])
            bboxes = as_array(gt['bboxes']).reshape(-1, 4)
            if pred_kpts.ndim != 3 or gt_kpts.ndim != 3:
                raise ValueError('keypoints must be (N, K, D); got prediction '
                                 f'{pred_kpts.shape}, '
                                 f'ground truth {gt_kpts.shape}')
            if pred_kpts.shape[0] != 1 or gt_kpts.shape[
                    0] != 1 or bboxes.shape[0] != 1:
                raise ValueError(
                    f'{type(self).__name__} is for top-down evaluation only '
                    '(one person per data sample, '
                    f'ground-truth boxes); got {pred_kpts.shape[0]} '
                    f'predicted and {gt_kpts.shape[0]} '
                    f'ground-truth persons with {bboxes.shape[0]} boxes in '
                    'one sample (a bottom-up model?). '
                    'Use CocoMetric for bottom-up models.')
            if pred_kpts.shape != gt_kpts.shape:
                raise ValueError('prediction and ground truth disagree on the '
                                 'keypoints: prediction '
                                 f'{pred_kpts.shape[1:]}, ground truth '
                                 f'{gt_kpts.shape[1:]} (K, D)')
            # (K, D) each, dtypes kept for MMPose's PCK
            pred_kpts, gt_kpts = pred_kpts[0], gt_kpts[0]
            visible = visibility(gt['keypoints_visible'])  # (K,)
            K = gt_kpts.shape[0]
            if visible.shape != (K, ):
                raise ValueError(
                    f'keypoints_visible has {visible.size} entries for K={K}')
            flip = self._flip_indices(sample, K)
            if visible.all() and not np.any(gt_kpts):
                # MMPose's placeholder for a detection box: matched to an
                # annotated person in compute_metrics
                if self.ann_file is None:
                    raise ValueError(
                        f'{type(self).__name__}: the ground truth of image '
                        f'{sample.get("img_id")} is MMPose\'s placeholder '
                        '(every keypoint at (0, 0)): the test set reads '
                        'detection boxes (bbox_file). Give the metric the '
                        'annotation file to match the detections to the '
                        'annotated people (BoxNormalizedPoseMetric('
                        'ann_file=...), e.g. --cfg-options '
                        'test_evaluator.1.ann_file=<the CocoMetric\'s>), or '
                        'test with ground-truth boxes (bbox_file=None)')
                self.results.append(
                    dict(
                        detection=True,
                        img_id=int(sample['img_id']),
                        box=bboxes[0].astype(np.float64),
                        score=self._det_score(sample),
                        pred=pred_kpts,
                        flip=flip))
                continue
            self.results.append(
                self._record(pred_kpts, gt_kpts, visible, bboxes[0], flip))

    @staticmethod
    def _det_score(sample: dict) -> float:
        """The detector's score of a detection-box sample (0 if none)."""
        for part in ('pred_instances', 'gt_instances'):
            scores = sample[part].get('bbox_scores')
            if scores is not None and as_array(scores).size:
                return float(as_array(scores).reshape(-1)[0])
        return 0.0

    @staticmethod
    def _record(pred_kpts: np.ndarray, gt_kpts: np.ndarray,
                visible: np.ndarray, bbox: np.ndarray,
                flip: np.ndarray) -> dict:
        """What ``compute_metrics`` needs of one person: pred and gt (K, D),
        visible (K,) bool, bbox (4,) xyxy, flip (K,)."""
        K = gt_kpts.shape[0]
        w, h = bbox[2:] - bbox[:2]
        if not visible.any() or w <= 0 or h <= 0:
            return dict(skipped=True)
        # in the boxes' dtype, as PCKAccuracy has it
        box_size = np.max(bbox[2:] - bbox[:2])
        # left/right swap: keypoints visible in both assignments (k and its
        # mirror flip[k])
        both = visible & visible[flip]  # (K,)
        has_pair = bool((both & (flip != np.arange(K))).any())
        swapped = False
        if has_pair:
            pred64, gt64 = pred_kpts.astype(np.float64), gt_kpts.astype(
                np.float64)
            err = np.linalg.norm(pred64 - gt64, axis=-1)[both].mean()
            err_swapped = np.linalg.norm(
                pred64[flip] - gt64, axis=-1)[both].mean()
            swapped = bool(err_swapped < err)
        return dict(
            skipped=False,
            pred=pred_kpts,
            gt=gt_kpts,
            visible=visible,
            box_size=box_size,
            has_pair=has_pair,
            swapped=swapped)

    def _annotated_people(self) -> Dict[int, List[dict]]:
        """image id → its annotated people in ``ann_file``: keypoints (K, 2),
        visible (K,) bool, box (4,) xyxy (read once)."""
        if self._people is None:
            with get_local_path(self.ann_file) as path:
                anns = load(path)['annotations']
            people = defaultdict(list)
            for ann in anns:
                kpts = np.asarray(
                    ann.get('keypoints', []), dtype=np.float32).reshape(-1, 3)
                x, y, w, h = (float(v) for v in ann['bbox'])
                if ann.get('iscrowd',
                           0) or not (kpts[:, 2] > 0).any() or (w <= 0
                                                                or h <= 0):
                    continue
                people[int(ann['image_id'])].append(
                    dict(
                        keypoints=kpts[:, :2],
                        visible=kpts[:, 2] > 0,
                        box=np.array([x, y, x + w, y + h], dtype=np.float32)))
            self._people = dict(people)
        return self._people

    def _match_detections(self,
                          detections: List[dict]) -> Tuple[List[dict], dict]:
        """Score detections against the annotated people they match.

        Returns:
            tuple: the records of matched detections and the counts
            ``num_matched``, ``num_unmatched``, ``num_missed``.
        """
        people = self._annotated_people()
        by_image = defaultdict(list)
        for det in detections:
            by_image[det['img_id']].append(det)
        records, unmatched, missed = [], 0, 0
        for img_id, dets in by_image.items():
            gts = people.get(img_id, [])
            dets = sorted(dets, key=lambda d: -d['score'])
            # (D, G) box IoU of every detection / person (MMPose's)
            ious = bbox_overlaps(
                torch.as_tensor(np.stack([d['box'] for d in dets])),
                torch.as_tensor(
                    np.array([g['box'] for g in gts],
                             dtype=np.float64).reshape(-1, 4))).numpy()
            taken = np.zeros(len(gts), dtype=bool)
            for det, iou in zip(dets, ious):
                iou[taken] = -1.0  # (G,) each person matched at most once
                best = int(iou.argmax()) if len(gts) else -1
                if best < 0 or iou[best] < self.match_iou:
                    unmatched += 1
                    continue
                taken[best] = True
                gt = gts[best]
                K = det['pred'].shape[0]
                if gt['keypoints'].shape[0] != K:
                    raise ValueError(
                        f'{type(self).__name__}: {self.ann_file} has '
                        f'{gt["keypoints"].shape[0]} keypoints per person, '
                        f'the predictions K={K}')
                records.append(
                    self._record(det['pred'], gt['keypoints'], gt['visible'],
                                 gt['box'], det['flip']))
            missed += int((~taken).sum())
        counts = dict(
            num_matched=len(records),
            num_unmatched=unmatched,
            num_missed=missed)
        return records, counts

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Aggregate the stored samples into the metric dict (keys without the
        prefix, see the class)."""
        detections = [r for r in results if r.get('detection')]
        counts: Dict[str, float] = {}
        if detections:
            matched, counts = self._match_detections(detections)
            results = [r for r in results if not r.get('detection')] + matched
        kept = [r for r in results if not r['skipped']]
        metrics: Dict[str, float] = {}
        if kept:
            pred = np.stack([r['pred'] for r in kept])  # (N, K, D)
            gt = np.stack([r['gt'] for r in kept])  # (N, K, D)
            mask = np.stack([r['visible'] for r in kept])  # (N, K)
            box_size = np.stack([r['box_size'] for r in kept])  # (N,)
            for t in self.thrs:
                # (N, D); MMPose's function edits it
                norm = np.repeat(box_size[:, None], pred.shape[-1], axis=1)
                _, pck, _ = keypoint_pck_accuracy(pred, gt, mask, t, norm)
                metrics[f'PCK@{t:g}'] = float(pck)
            # (N, K) pixels
            err = np.linalg.norm(
                pred.astype(np.float64) - gt.astype(np.float64), axis=-1)
            # (N, K) fractions of the box size
            err /= box_size.astype(np.float64)[:, None]
            metrics['err/box'] = float(err[mask].mean())
        else:
            MMLogger.get_current_instance().warning(
                f'{type(self).__name__}: no person with a visible keypoint '
                'and a non-empty box '
                f'({len(results)} skipped)')
            # MMPose's PCK of nothing
            metrics.update({f'PCK@{t:g}': 0.0 for t in self.thrs})
            metrics['err/box'] = float('nan')
        paired = [r for r in kept if r['has_pair']]
        metrics['LR-swap'] = (sum(r['swapped'] for r in paired) /
                              len(paired)) if paired else float('nan')
        metrics['num_instances'] = len(kept)
        metrics['num_skipped'] = len(results) - len(kept)
        metrics.update(counts)
        return metrics
