"""Box-normalised keypoint metrics for bottom-up (one-stage) models: each
ground-truth person is matched to one predicted person, then scored as
``BoxNormalizedPoseMetric`` scores a top-down prediction.

COCO AP of a one-stage model mixes detection and localisation and stays near 0
at small training budgets. This metric separates the two: ``recall@OKS.5`` is
the share of people found at all, and ``PCK@t`` / ``err/box`` how well the
found people's keypoints sit, counting a person nobody matched as missed on
every keypoint.

Matching, per image: the object keypoint similarity (OKS, COCO's formula with
the dataset's per-keypoint sigmas and the ground-truth box area as the scale)
of every ground-truth / prediction pair; pairs are taken greedily from the
highest OKS, each person and each prediction at most once, and only with OKS >
0. Predictions are taken in the order the model scores them: the first
``max_dets`` of them (highest score first).
"""
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from mmengine.structures import BaseDataElement
from mmpose.registry import METRICS

from mmpose_ext.models.common.instance_arrays import as_array


def oks_matrix(gt: np.ndarray, visible: np.ndarray, areas: np.ndarray,
               pred: np.ndarray, sigmas: np.ndarray) -> np.ndarray:
    """COCO's object keypoint similarity of every ground-truth / prediction
    pair.

    Args:
        gt: (G, K, 2) ground-truth keypoints.
        visible: (G, K) bool, labelled keypoints.
        areas: (G,) person scales (box areas, pixels²).
        pred: (P, K, 2) predicted keypoints.
        sigmas: (K,) COCO's per-keypoint sigmas.

    Returns:
        (G, P) OKS in [0, 1]; 0 for a person without labelled keypoints.
    """
    var = (2 * sigmas)**2  # (K,)
    # (G, P, K) squared distances
    d2 = ((gt[:, None] - pred[None])**2).sum(-1)
    e = d2 / (2 * var * (areas[:, None, None] + np.spacing(1)))
    sim = np.exp(-e) * visible[:, None]  # (G, P, K)
    count = visible.sum(-1)[:, None]  # (G, 1)
    return np.where(count > 0, sim.sum(-1) / np.maximum(count, 1), 0.0)


def greedy_match(oks: np.ndarray) -> np.ndarray:
    """(G, P) OKS → (G,) index of the matched prediction, −1 for none; pairs
    taken from the highest OKS, each side at most once, OKS > 0 only."""
    match = np.full(oks.shape[0], -1, dtype=np.int64)
    if oks.size == 0:
        return match
    used_p = np.zeros(oks.shape[1], dtype=bool)
    for flat in np.argsort(-oks, axis=None, kind='stable'):
        g, p = np.unravel_index(flat, oks.shape)
        if oks[g, p] <= 0:
            break
        if match[g] < 0 and not used_p[p]:
            match[g], used_p[p] = p, True
    return match


@METRICS.register_module()
class MatchedPoseMetric(BaseMetric):
    """PCK, mean error and recall of a bottom-up model's people, matched by OKS
    to the ground truth.

    Note:
        - K: keypoints per person.
        - G: ground-truth people of an image; P: its predicted people.

    Results (behind ``prefix``, ``'matched'`` unless set):

    - ``PCK@{t}``: share of the labelled ground-truth keypoints (of people
      with a non-empty box) whose matched prediction is within ``t`` × the
      box size (``max(w, h)``); the keypoints of an unmatched person count as
      misses. All keypoints pooled.
    - ``err/box``: mean error / box size over the keypoints of matched people.
    - ``recall@OKS.5``: share of people matched with OKS ≥ 0.5.
    - ``num_instances``: people evaluated; ``num_skipped``: people without a
      labelled keypoint or with a zero-area box.

    Args:
        thrs (Sequence[float]): PCK thresholds. Defaults to (0.1, 0.2).
        max_dets (int): Predictions per image considered, highest score first.
            Defaults to 20 (COCO's keypoint metric keeps 20).
        collect_device (str): Where results are gathered in distributed runs.
        prefix (str, optional): Prefix of the result keys.
    """
    default_prefix: Optional[str] = 'matched'

    def __init__(self,
                 thrs: Sequence[float] = (0.1, 0.2),
                 max_dets: int = 20,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.thrs = tuple(float(t) for t in thrs)
        if not self.thrs or any(t <= 0 for t in self.thrs):
            raise ValueError('thrs must be a non-empty sequence of positive '
                             f'fractions, got {thrs}')
        if max_dets < 1:
            raise ValueError(f'max_dets must be >= 1, got {max_dets}')
        self.max_dets = int(max_dets)

    def _sigmas(self, num_keypoints: int) -> np.ndarray:
        sigmas = (self.dataset_meta or {}).get('sigmas')
        if sigmas is None or len(sigmas) != num_keypoints:
            raise ValueError(
                f'{type(self).__name__} needs dataset_meta["sigmas"] with K='
                f'{num_keypoints} entries for OKS, got '
                f'{None if sigmas is None else len(sigmas)}')
        return np.asarray(sigmas, dtype=np.float64)

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Match every image's people; store per person its errors (or None
        when unmatched).

        ``pred_instances.keypoints`` (P, K, 2) and ``keypoint_scores`` or
        ``bbox_scores``; ``gt_instances.keypoints`` (G, K, 2),
        ``keypoints_visible`` (G, K) and ``bboxes`` (G, 4) xyxy, all in image
        coordinates.
        """
        for sample in data_samples:
            if isinstance(sample, BaseDataElement):
                sample = sample.to_dict()
            gt, pred = sample['gt_instances'], sample['pred_instances']
            gt_kpts = as_array(gt['keypoints']).astype(np.float64)
            K = gt_kpts.shape[1]
            vis = as_array(gt['keypoints_visible'])
            vis = (vis[..., 0] if vis.ndim == 3 else vis).reshape(-1, K) > 0
            boxes = as_array(gt['bboxes']).reshape(-1, 4).astype(np.float64)
            pred_kpts = as_array(pred.get('keypoints', np.zeros(
                (0, K, 2)))).astype(np.float64).reshape(-1, K, 2)
            order = np.argsort(
                -self._scores(pred, len(pred_kpts)),
                kind='stable')[:self.max_dets]
            pred_kpts = pred_kpts[order]
            wh = boxes[:, 2:] - boxes[:, :2]  # (G, 2)
            keep = vis.any(-1) & (wh > 0).all(-1)  # (G,)
            # one entry per image (MMEngine's evaluate(size) counts them)
            image = dict(skipped=int((~keep).sum()), people=[])
            self.results.append(image)
            if not keep.any():
                continue
            gt_kpts, vis, wh = gt_kpts[keep], vis[keep], wh[keep]
            oks = oks_matrix(gt_kpts, vis, wh.prod(-1), pred_kpts,
                             self._sigmas(K))
            match = greedy_match(oks)
            for g in range(len(gt_kpts)):
                p = match[g]
                err = None
                if p >= 0:
                    # (visible K,) fractions of the box size
                    err = np.linalg.norm(
                        pred_kpts[p] - gt_kpts[g],
                        axis=-1)[vis[g]] / wh[g].max()
                image['people'].append(
                    dict(
                        err=err,
                        num=int(vis[g].sum()),
                        oks=float(oks[g, p]) if p >= 0 else 0.0))

    @staticmethod
    def _scores(pred: dict, num: int) -> np.ndarray:
        for key in ('bbox_scores', 'scores'):
            if key in pred and len(as_array(pred[key])) == num:
                return as_array(pred[key]).reshape(-1).astype(np.float64)
        if 'keypoint_scores' in pred and num:
            return as_array(pred['keypoint_scores']).reshape(num, -1).mean(-1)
        return np.zeros(num)

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        people = [p for r in results for p in r['people']]
        skipped = sum(r['skipped'] for r in results)
        metrics: Dict[str, float] = dict(
            num_instances=len(people), num_skipped=skipped)
        if not people:
            MMLogger.get_current_instance().warning(
                f'{type(self).__name__}: no person with a labelled keypoint '
                f'and a non-empty box ({skipped} skipped)')
            metrics.update({f'PCK@{t:g}': 0.0 for t in self.thrs})
            metrics.update({'err/box': float('nan'), 'recall@OKS.5': 0.0})
            return metrics
        total = sum(r['num'] for r in people)
        errs = [r['err'] for r in people if r['err'] is not None]
        pooled = np.concatenate(errs) if errs else np.zeros(0)
        for t in self.thrs:
            metrics[f'PCK@{t:g}'] = float((pooled < t).sum() / total)
        metrics['err/box'] = float(
            pooled.mean()) if len(pooled) else float('nan')
        metrics['recall@OKS.5'] = float(
            np.mean([r['oks'] >= 0.5 for r in people]))
        return metrics
