"""Measurements for SCAI's evidence.

True errors of the corrected keypoints next to SCAI's self-referential error
(Kan et al., CVPR 2023 report a correlation of r = −0.84 between the two, with
their sign convention).

The true error of a keypoint is the Euclidean distance between prediction and
ground truth in the original image, divided by √(box area) — so one number is
comparable across person sizes.
"""
import copy
from typing import Dict

import numpy as np
import torch


def _normalised_distance(pred: np.ndarray, gt: np.ndarray,
                         bbox: np.ndarray) -> np.ndarray:
    """(N, M, 2), (N, M, 2), (N, 4) xyxy → (N, M) distances / √area."""
    # (N,)
    area = np.clip((bbox[:, 2] - bbox[:, 0]) * (bbox[:, 3] - bbox[:, 1]), 1e-6,
                   None)
    return np.linalg.norm(pred - gt, axis=-1) / np.sqrt(area)[:, None]


@torch.no_grad()
def collect_distal_errors(model, dataloader) -> Dict[str, np.ndarray]:
    """Run the frozen model and SCAI over ``dataloader`` and gather, per
    instance and chain,

    - ``base``: true error of the frozen model's distal keypoint,
    - ``scai``: true error of SCAI's corrected distal keypoint (with or without
      adaptation, as the model's ``test_cfg.adapt.enable`` says),
    - ``self_error``: SCAI's self-referential error of that corrected keypoint,
    - ``self_error_uncorrected``: the same for Φ's uncorrected prediction,
    - ``visible``: whether the ground-truth keypoint is labelled.

    Returns:
        dict: name → (N, M) arrays, N instances of the dataloader, M chains.
    """
    model.eval()
    distal = model.chains.distal
    out = {
        k: []
        for k in ('base', 'scai', 'self_error', 'self_error_uncorrected',
                  'visible')
    }
    for data in dataloader:
        data = model.data_preprocessor(data, training=False)
        inputs, samples = data['inputs'], data['data_samples']
        base = model.base.predict(inputs, copy.deepcopy(samples))
        scai = model.predict(inputs, samples)
        for b, s in zip(base, scai):
            gt = s.gt_instances
            # (1, M, 2) image space
            gt_kpts = np.asarray(gt.keypoints)[:, distal]
            bbox = np.asarray(gt.bboxes)
            out['base'].append(
                _normalised_distance(b.pred_instances.keypoints[:, distal],
                                     gt_kpts, bbox))
            out['scai'].append(
                _normalised_distance(s.pred_instances.keypoints[:, distal],
                                     gt_kpts, bbox))
            out['self_error'].append(s.pred_instances.scai_error)
            out['self_error_uncorrected'].append(
                s.pred_instances.scai_error_uncorrected)
            out['visible'].append(
                np.asarray(gt.keypoints_visible)[:, distal] > 0)
    return {k: np.concatenate(v, 0) for k, v in out.items()}


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
