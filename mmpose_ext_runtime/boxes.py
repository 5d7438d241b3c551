"""Which detected people a top-down model is run on: MMPose's demo rule,
without torch.

MMPose's ``demo/topdown_demo_with_mmdet.py`` keeps the person detections
whose score is above ``--bbox-thr`` (0.3) and then applies box NMS at
``--nms-thr`` (0.3) with ``mmpose.evaluation.functional.nms`` (greedy,
highest score first, pixel-inclusive areas ``(x2 - x1 + 1) * (y2 - y1 +
1)``, a box survives while its overlap is ``<= thr``). :func:`box_nms` is that
function in NumPy (a test compares them); :func:`select_detections` is the
rule. A detector's results list one person several times (overlapping boxes)
and low-scoring specks: on the fixtures' ``test_coco_det_AP_H_56.json`` the
rule keeps 19 of the 118 person boxes (33 score above 0.3); without it each
box is drawn as a person.
"""
from typing import List, Optional

import numpy as np

#: MMPose's demo defaults.
BBOX_THR = 0.3
NMS_THR = 0.3


def box_nms(dets: np.ndarray, thr: float) -> List[int]:
    """MMPose's ``nms``: indices kept, highest score first.

    Args:
        dets: (N, 5) x1, y1, x2, y2, score.
        thr: Largest overlap (IoU, pixel-inclusive) a kept box may have with
            a higher-scoring kept one.
    """
    dets = np.asarray(dets, dtype=np.float64).reshape(-1, 5)
    x1, y1, x2, y2, scores = dets.T
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = scores.argsort()[::-1]
    keep = []
    while len(order) > 0:
        i = order[0]
        keep.append(int(i))
        rest = order[1:]
        w = np.maximum(
            0.0,
            np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(
            0.0,
            np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        inter = w * h
        overlap = inter / (areas[i] + areas[rest] - inter)
        order = rest[overlap <= thr]
    return keep


def select_detections(bboxes_xyxy: np.ndarray,
                      scores: np.ndarray,
                      bbox_thr: float = BBOX_THR,
                      nms_thr: Optional[float] = NMS_THR) -> np.ndarray:
    """Indices of the detections MMPose's demo keeps, in their given order.

    Args:
        bboxes_xyxy: (N, 4) boxes of one image.
        scores: (N,) their scores.
        bbox_thr: Keep scores above it (strictly, as MMPose's demo).
        nms_thr: Box NMS overlap; None or ``>= 1`` for no NMS.
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    above = np.flatnonzero(scores > bbox_thr)
    if nms_thr is None or nms_thr >= 1 or len(above) < 2:
        return above
    dets = np.concatenate([
        np.asarray(bboxes_xyxy, dtype=np.float64).reshape(-1, 4)[above],
        scores[above, None]
    ], 1)
    return np.sort(above[box_nms(dets, nms_thr)])
