"""MatchedPoseMetric (bottom-up): OKS equals COCO's formula and MMPose's
oks_iou, greedy matching, PCK / error / recall on hand-built images, missed and
extra people, people it skips."""
import numpy as np
import pytest
from mmengine.structures import InstanceData
from mmpose.evaluation.functional.nms import oks_iou
from mmpose.structures import PoseDataSample

from mmpose_ext.evaluation import MatchedPoseMetric
from mmpose_ext.evaluation.metrics.matched_pose_metric import (greedy_match,
                                                               oks_matrix)

SIGMAS = np.array([0.026, 0.025, 0.025, 0.079, 0.079])
# one person: K = 5 keypoints in a 100 x 200 box
GT = np.array([[50, 10], [65, 10], [35, 10], [80, 50], [20, 50]], np.float64)
BOX = [0.0, 0.0, 100.0, 200.0]


def _image(gts, preds, scores=None, visible=None, boxes=None):
    """One image: gts (G, K, 2), preds (P, K, 2) in image pixels."""
    gts, preds = np.asarray(gts, np.float32), np.asarray(preds, np.float32)
    G = len(gts)
    sample = PoseDataSample()
    sample.gt_instances = InstanceData(
        keypoints=gts,
        keypoints_visible=np.ones(gts.shape[:2], np.float32)
        if visible is None else np.asarray(visible, np.float32),
        bboxes=np.asarray(boxes or [BOX] * G, np.float32).reshape(G, 4))
    scores = np.ones(len(preds)) if scores is None else np.asarray(scores)
    sample.pred_instances = InstanceData(
        keypoints=preds.reshape(-1, 5, 2),
        keypoint_scores=np.ones((len(preds), 5), np.float32),
        bbox_scores=scores.astype(np.float32))
    return sample.to_dict()


def _evaluate(images, **kw):
    metric = MatchedPoseMetric(**kw)
    metric.dataset_meta = dict(sigmas=SIGMAS)
    metric.process([], images)
    return metric.evaluate(len(images))


def test_oks_is_cocos_formula_and_mmposes():
    rng = np.random.default_rng(0)
    gt = GT[None] + rng.normal(size=(3, 5, 2)) * 5
    pred = GT[None] + rng.normal(size=(4, 5, 2)) * 8
    vis = np.ones((3, 5), bool)
    areas = np.array([2e4, 1e4, 5e3])
    oks = oks_matrix(gt, vis, areas, pred, SIGMAS)
    for g in range(3):
        # MMPose's oks_iou: ground truth g against every prediction
        g_flat = np.concatenate([gt[g], np.ones((5, 1))], 1).reshape(-1)
        d_flat = np.concatenate([pred, np.ones((4, 5, 1))], 2).reshape(4, -1)
        ref = oks_iou(g_flat, d_flat, areas[g], np.full(4, areas[g]), SIGMAS)
        np.testing.assert_allclose(oks[g], ref, rtol=1e-6)  # MMPose: fp32
    # by hand: one keypoint off by d, others exact
    one = GT.copy()
    one[3, 0] += 10.0
    by_hand = (4 + np.exp(-100 / (2 * 2e4 * (2 * 0.079)**2))) / 5
    assert oks_matrix(GT[None], np.ones((1, 5), bool), np.array([2e4]),
                      one[None], SIGMAS)[0, 0] == pytest.approx(by_hand)


def test_greedy_match_takes_the_best_pairs_once():
    oks = np.array([[0.9, 0.8], [0.85, 0.0], [0.0, 0.0]])
    # (0, 0) first; then person 1's best left is prediction 1 at 0: unmatched
    np.testing.assert_array_equal(greedy_match(oks), [0, -1, -1])
    np.testing.assert_array_equal(
        greedy_match(np.array([[0.5, 0.9], [0.6, 0.1]])), [1, 0])
    assert greedy_match(np.zeros((2, 0))).tolist() == [-1, -1]


def test_hand_built_image():
    """Two people, two predictions and a stray one: person A exact, person B
    with two keypoints 30 px off (box size 200: 0.15), the stray far away."""
    a, b = GT, GT + [300, 0]
    b_pred = b.copy()
    b_pred[[3, 4], 1] += 30
    stray = GT + [1000, 1000]
    res = _evaluate([
        _image([a, b], [stray, b_pred, a],
               scores=[0.1, 0.8, 0.9],
               boxes=[BOX, [300, 0, 400, 200]])
    ])
    assert res['matched/num_instances'] == 2
    assert res['matched/PCK@0.1'] == pytest.approx(8 / 10)
    assert res['matched/PCK@0.2'] == pytest.approx(1.0)
    assert res['matched/err/box'] == pytest.approx(2 * 0.15 / 10)
    assert res['matched/recall@OKS.5'] == pytest.approx(1.0)


def test_missed_people_count_as_misses_and_max_dets():
    """A person nobody predicted misses all its keypoints; predictions beyond
    max_dets (lowest scores) are not considered."""
    a, b = GT, GT + [300, 0]
    res = _evaluate([_image([a, b], [a])])
    assert res['matched/PCK@0.1'] == pytest.approx(0.5)
    assert res['matched/recall@OKS.5'] == pytest.approx(0.5)
    assert res['matched/err/box'] == pytest.approx(0.0)
    res = _evaluate([_image([a], [a + 500, a], scores=[0.9, 0.1])], max_dets=1)
    assert res['matched/PCK@0.1'] == 0.0


def test_skips_people_without_keypoints_or_box():
    a, b = GT, GT + [300, 0]
    res = _evaluate([
        _image([a, b], [a, b],
               visible=[[1] * 5, [0] * 5],
               boxes=[BOX, [300, 0, 400, 200]])
    ])
    assert res['matched/num_instances'] == 1
    assert res['matched/num_skipped'] == 1
    res = _evaluate([_image([a], [a], boxes=[[0, 0, 0, 200]])])
    assert res['matched/num_instances'] == 0
    assert res['matched/PCK@0.1'] == 0.0


def test_clear_errors():
    with pytest.raises(ValueError, match='thrs'):
        MatchedPoseMetric(thrs=())
    with pytest.raises(ValueError, match='max_dets'):
        MatchedPoseMetric(max_dets=0)
    metric = MatchedPoseMetric()
    metric.dataset_meta = dict(sigmas=SIGMAS[:3])
    with pytest.raises(ValueError, match='sigmas'):
        metric.process([], [_image([GT], [GT])])
