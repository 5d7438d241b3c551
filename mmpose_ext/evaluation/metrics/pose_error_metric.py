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
sample, ground-truth boxes.
"""
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from mmengine.structures import BaseDataElement
from mmpose.evaluation.functional import keypoint_pck_accuracy
from mmpose.registry import METRICS

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

    Args:
        thrs (Sequence[float]): PCK thresholds, fractions of the box size.
            Defaults to (0.1, 0.2).
        collect_device (str): ``'cpu'`` or ``'gpu'``, where results are
            gathered in distributed runs.
        prefix (str, optional): prefix of the result keys; ``'box_norm'`` when
            None.

    Raises (in ``process``):
        ValueError: a sample with more than one predicted or ground-truth
            person (a bottom-up model: this metric is top-down only),
            prediction and ground truth with different K, or ``flip_indices``
            whose length is not K.
    """

    default_prefix: Optional[str] = 'box_norm'

    def __init__(self,
                 thrs: Sequence[float] = (0.1, 0.2),
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
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

            w, h = bboxes[0, 2:] - bboxes[0, :2]
            if not visible.any() or w <= 0 or h <= 0:
                self.results.append(dict(skipped=True))
                continue
            # in the boxes' dtype, as PCKAccuracy has it
            box_size = np.max(bboxes[0, 2:] - bboxes[0, :2])

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
            self.results.append(
                dict(
                    skipped=False,
                    pred=pred_kpts,
                    gt=gt_kpts,
                    visible=visible,
                    box_size=box_size,
                    has_pair=has_pair,
                    swapped=swapped))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Aggregate the stored samples into the metric dict (keys without the
        prefix, see the class)."""
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
        return metrics
