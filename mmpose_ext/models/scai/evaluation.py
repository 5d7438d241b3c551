"""Measurements for SCAI's evidence: what the correction did to the distal
keypoints, and whether the feedback error tracks the true error.

The true error of a keypoint is the Euclidean distance between prediction and
ground truth in the original image divided by the longer side of the person's
box (as ``BoxNormalizedPoseMetric``), so one number is comparable across
person sizes. The paper's central finding is a strong correlation between its
self-referential (feedback) error and the true error; its value as our
notes once quoted it (r = −0.84) could not be traced to the paper's text here
and is not used.
"""
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.structures import BaseDataElement
from mmpose.evaluation.functional import keypoint_pck_accuracy
from mmpose.registry import METRICS

from mmpose_ext.models.common.instance_arrays import as_array, visibility


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson's r of two 1-D arrays (nan with fewer than 3 points or a
    constant array)."""
    if x.size < 3 or np.std(x) == 0 or np.std(y) == 0:
        return float('nan')
    return float(np.corrcoef(x, y)[0, 1])


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's ρ: Pearson's r of the ranks (ties broken by order; enough for
    a report)."""
    return pearson(
        np.argsort(np.argsort(x)).astype(float),
        np.argsort(np.argsort(y)).astype(float))


@METRICS.register_module()
class SCAIFeedbackMetric(BaseMetric):
    """What SCAI did to the distal keypoints it corrects, and whether its
    feedback error tracks the true error (top-down, one person per sample).

    Reads the fields :meth:`SCAIPoseEstimator.predict` adds to
    ``pred_instances`` (``scai_frozen_keypoints``, ``scai_error_frozen``,
    ``scai_error``, ``scai_kept``, ``scai_adapted``, ``scai_fallback``). Errors
    are ``|pred − gt| / max(box w, h)`` and PCK is MMPose's (per keypoint type,
    averaged over the types), as in ``BoxNormalizedPoseMetric``, here over the
    M distal keypoints only (COCO: wrists, ankles, ears).

    Results (behind MMEngine's ``prefix``, ``'scai'`` unless set):

    - ``distal PCK@t`` / ``frozen distal PCK@t`` (every ``t`` in ``thrs``),
      ``distal err/box`` / ``frozen distal err/box``: SCAI's output and the
      frozen model's own keypoints on the same labelled distal keypoints;
    - ``r(feedback, error)``: Pearson's r, over the labelled distal keypoints,
      between Γ's feedback error of the frozen model's H_D and that keypoint's
      true error (positive: the feedback error grows with the true error; the
      property the keep rule and the adaptation rely on), ``rho(feedback,
      error)`` Spearman's; ``r(output)``: the same for the decoded output's
      feedback error and true error;
    - ``kept``: the share of distal heatmaps (all people) where the corrected
      one was used, ``adapted``: the share of people adapted, ``fallback``:
      distal heatmaps that fell back for a missing start joint or a non-finite
      error, ``better`` / ``worse``: labelled distal keypoints moved closer /
      further (by more than 1e-6 of the box size) than the frozen model's.

    Args:
        chains (str | dict): The model's chains (:class:`KinematicChains`
            preset or arguments), which name the distal keypoints.
        thrs (Sequence[float]): PCK thresholds. Defaults to (0.1, 0.2).
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): Prefix of the result keys.
    """

    default_prefix: Optional[str] = 'scai'

    def __init__(self,
                 chains: Union[str, dict] = 'coco',
                 thrs: Sequence[float] = (0.1, 0.2),
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.chains_cfg = chains
        self.thrs = tuple(float(t) for t in thrs)

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            if isinstance(sample, BaseDataElement):
                sample = sample.to_dict()
            pred, gt = sample['pred_instances'], sample['gt_instances']
            if 'scai_error_frozen' not in pred:
                raise ValueError(
                    f'{type(self).__name__}: the predictions carry no SCAI '
                    'fields (scai_error_frozen …): use it with '
                    'SCAIPoseEstimator')
            self.results.append(
                dict(
                    pred=as_array(pred['keypoints'])[0],
                    frozen=as_array(pred['scai_frozen_keypoints'])[0],
                    gt=as_array(gt['keypoints'])[0],
                    visible=visibility(gt['keypoints_visible']),
                    box=as_array(gt['bboxes']).reshape(-1, 4)[0],
                    error=as_array(pred['scai_error'])[0],
                    error_frozen=as_array(pred['scai_error_frozen'])[0],
                    kept=as_array(pred['scai_kept'])[0],
                    adapted=bool(
                        as_array(pred['scai_adapted']).reshape(-1)[0]),
                    fallback=as_array(pred['scai_fallback'])[0]))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        from .chains import KinematicChains
        if not results:
            return {}
        num_keypoints = results[0]['gt'].shape[0]
        distal = KinematicChains.from_config(
            self.chains_cfg, num_keypoints=num_keypoints).distal
        stack = {k: np.stack([r[k] for r in results]) for k in results[0]}
        box = stack['box'].astype(np.float64)
        size = np.max(box[:, 2:] - box[:, :2], axis=1)  # (N,)
        keep = size > 0  # a zero-area box scores nothing
        gt = stack['gt'][keep][:, distal]
        vis = stack['visible'][keep][:, distal]  # (N, M)
        size = size[keep]
        metrics: Dict[str, float] = {}
        errors = {}
        for name, key in (('', 'pred'), ('frozen ', 'frozen')):
            pred = stack[key][keep][:, distal]
            for t in self.thrs:
                norm = np.repeat(size[:, None], 2, axis=1)
                metrics[f'{name}distal PCK@{t:g}'] = float(
                    keypoint_pck_accuracy(pred, gt, vis, t, norm)[1])
            err = np.linalg.norm(
                pred.astype(np.float64) - gt.astype(np.float64),
                axis=-1) / size[:, None]  # (N, M)
            errors[key] = err
            metrics[f'{name}distal err/box'] = float(
                err[vis].mean()) if vis.any() else float('nan')
        fb = stack['error_frozen'][keep].astype(np.float64)
        ok = vis & np.isfinite(fb)
        metrics['r(feedback, error)'] = pearson(fb[ok], errors['frozen'][ok])
        metrics['rho(feedback, error)'] = spearman(fb[ok],
                                                   errors['frozen'][ok])
        out = stack['error'][keep].astype(np.float64)
        ok = vis & np.isfinite(out)
        metrics['r(output)'] = pearson(out[ok], errors['pred'][ok])
        metrics['kept'] = float(stack['kept'].mean())
        metrics['adapted'] = float(stack['adapted'].mean())
        metrics['fallback'] = int((stack['fallback'] > 0).sum())
        moved = errors['pred'] - errors['frozen']
        metrics['better'] = int(((moved < -1e-6) & vis).sum())
        metrics['worse'] = int(((moved > 1e-6) & vis).sum())
        return metrics
