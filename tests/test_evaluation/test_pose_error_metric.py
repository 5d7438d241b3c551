"""BoxNormalizedPoseMetric: PCK equals MMPose's PCKAccuracy(norm_item='bbox')
on perturbed real annotations; error, PCK and left/right swap rate on
hand-derived cases; skipped instances; its clear errors."""
import json

import numpy as np
import pytest
from mmengine.structures import InstanceData
from mmpose.evaluation.metrics import PCKAccuracy
from mmpose.structures import PoseDataSample

from mmpose_ext.evaluation import BoxNormalizedPoseMetric

# K = 5: nose, left eye, right eye, left shoulder, right shoulder
FLIP5 = [0, 2, 1, 4, 3]
# (K, 2)
GT5 = np.array([[50, 10], [65, 10], [35, 10], [80, 50], [20, 50]],
               dtype=np.float64)
BOX5 = [0.0, 0.0, 100.0, 200.0]  # xyxy: box size max(w, h) = 200


def _sample(pred, gt, visible, bbox, as_dict=True):
    """One top-down data sample: pred/gt (K, 2) or (N, K, 2), visible (K,),
    bbox xyxy (4,)."""
    pred, gt = np.asarray(pred, np.float32), np.asarray(gt, np.float32)
    sample = PoseDataSample()
    sample.gt_instances = InstanceData(
        keypoints=gt.reshape(-1, *gt.shape[-2:]),
        keypoints_visible=np.asarray(visible, np.float32).reshape(1, -1),
        bboxes=np.asarray(bbox, np.float32).reshape(1, 4))
    pred = pred.reshape(-1, *pred.shape[-2:])
    sample.pred_instances = InstanceData(
        keypoints=pred, keypoint_scores=np.ones(pred.shape[:2], np.float32))
    # MMEngine's Evaluator hands metrics dicts
    return sample.to_dict() if as_dict else sample


def _evaluate(samples, flip=FLIP5, **kwargs):
    metric = BoxNormalizedPoseMetric(**kwargs)
    metric.dataset_meta = dict(flip_indices=flip)
    metric.process([], samples)
    return metric.evaluate(len(samples))


def _coco_samples(coco_fixtures, noise, seed=0):
    """Data samples from the bundled COCO annotations (14 people, K = 17),
    predictions = ground truth + Gaussian noise of ``noise`` × box size; people
    without labelled keypoints included."""
    rng = np.random.default_rng(seed)
    anns = json.loads(
        (coco_fixtures / 'test_coco.json').read_text())['annotations']
    samples = []
    for ann in anns:
        kpts = np.asarray(ann['keypoints'], np.float64).reshape(17, 3)
        x, y, w, h = ann['bbox']
        pred = kpts[:, :2] + rng.normal(size=(17, 2)) * noise * max(w, h)
        samples.append(
            _sample(pred, kpts[:, :2], np.minimum(1, kpts[:, 2]),
                    [x, y, x + w, y + h]))
    return samples


@pytest.mark.parametrize('noise', [0.05, 0.15])
def test_pck_equals_mmpose_pck_accuracy(coco_fixtures, noise):
    from mmpose.datasets.datasets.utils import parse_pose_metainfo

    flip = parse_pose_metainfo(
        dict(from_file='configs/_base_/datasets/coco.py'))['flip_indices']
    samples = _coco_samples(coco_fixtures, noise)
    thrs = (0.05, 0.1, 0.2, 0.3)
    ours = _evaluate(samples, flip=flip, thrs=thrs, prefix='synthetic')
    assert set(ours) == {
        f'synthetic/{k}'
        for k in ('PCK@0.05', 'PCK@0.1', 'PCK@0.2', 'PCK@0.3', 'err/box',
                  'LR-swap', 'num_instances', 'num_skipped')
    }
    # two unlabelled people
    assert ours['synthetic/num_instances'] == 12 and ours[
        'synthetic/num_skipped'] == 2
    values = set()
    for thr in thrs:
        mmpose_metric = PCKAccuracy(thr=thr, norm_item='bbox')
        mmpose_metric.process([], samples)
        # no default prefix
        expected = mmpose_metric.evaluate(len(samples))['PCK']
        assert ours[f'synthetic/PCK@{thr:g}'] == pytest.approx(
            expected, abs=1e-12), thr
        values.add(round(expected, 6))
    # the thresholds really give different numbers (not all 0 or 1)
    assert len(values) >= 3
    assert 0 < ours['synthetic/err/box'] < 1


def test_perfect_prediction():
    # PoseDataSample works too
    samples = [
        _sample(GT5, GT5, [1] * 5, BOX5, as_dict=False),
        _sample(GT5 + 7, GT5 + 7, [1, 0, 1, 1, 1], [7, 7, 107, 207])
    ]
    res = _evaluate(samples)
    assert res == {
        'box_norm/PCK@0.1': 1.0,
        'box_norm/PCK@0.2': 1.0,
        'box_norm/err/box': 0.0,
        'box_norm/LR-swap': 0.0,
        'box_norm/num_instances': 2,
        'box_norm/num_skipped': 0
    }


def test_left_right_exchanged():
    """pred[k] = gt[flip[k]]: eyes 30 px off, shoulders 60 px off, nose exact;
    box size 200. err/box = (0 + 30 + 30 + 60 + 60) / 5 / 200 = 0.18; PCK@0.1:
    nose only (1/5); PCK@0.2: nose and eyes (0.15 < 0.2), not shoulders (0.3) →
    3/5; swap rate 1."""
    res = _evaluate([_sample(GT5[FLIP5], GT5, [1] * 5, BOX5)])
    assert res['box_norm/err/box'] == pytest.approx(0.18)
    assert res['box_norm/PCK@0.1'] == pytest.approx(0.2)
    assert res['box_norm/PCK@0.2'] == pytest.approx(0.6)
    assert res['box_norm/LR-swap'] == 1.0


def test_pck_averages_per_keypoint_type_like_mmpose():
    """Person A: all 5 visible, only the nose within 0.1.

    Person B: only the nose visible, exact. Per type: nose 2/2, eyes 0/1,
    shoulders 0/1 → PCK = (1 + 0 + 0 + 0 + 0) / 5 = 0.2 (pooled would be 2/6).
    err/box pooled over the 6 visible keypoints: (0 + 30 + 30 + 60 + 60 + 0) /
    6 / 200 = 0.15.
    """
    res = _evaluate([
        _sample(GT5[FLIP5], GT5, [1] * 5, BOX5),
        _sample(GT5, GT5, [1, 0, 0, 0, 0], BOX5)
    ])
    assert res['box_norm/PCK@0.1'] == pytest.approx(0.2)
    assert res['box_norm/err/box'] == pytest.approx(0.15)


def test_swap_rate_counts_people_with_a_visible_pair():
    swapped = _sample(GT5[FLIP5], GT5, [1] * 5, BOX5)
    correct = _sample(GT5 + 3, GT5, [1] * 5, BOX5)  # shifted, not mirrored
    # no pair: not in the denominator
    nose_only = _sample(GT5[FLIP5], GT5, [1, 0, 0, 0, 0], BOX5)
    # no pair visible on both sides
    one_eye = _sample(GT5[FLIP5], GT5, [1, 1, 0, 1, 0], BOX5)
    # only the eyes count as a pair (shoulders hidden); the visible shoulder's
    # error is left out
    eyes_swapped = _sample(
        GT5[[0, 2, 1, 3, 4]] + np.array([[0, 0]] * 3 + [[90, 90]] * 2), GT5,
        [1, 1, 1, 1, 0], BOX5)
    res = _evaluate([swapped, correct, nose_only, one_eye, eyes_swapped])
    assert res['box_norm/LR-swap'] == pytest.approx(2 / 3)
    assert res['box_norm/num_instances'] == 5


def test_skipped_instances_are_counted_not_nan():
    ok = _sample(GT5, GT5, [1] * 5, BOX5)
    invisible = _sample(GT5 + 50, GT5, [0] * 5, BOX5)
    flat_box = _sample(GT5 + 50, GT5, [1] * 5, [0, 0, 0, 200])
    res = _evaluate([ok, invisible, flat_box])
    assert res['box_norm/num_instances'] == 1 and res[
        'box_norm/num_skipped'] == 2
    assert res['box_norm/PCK@0.1'] == 1.0 and res[
        'box_norm/err/box'] == 0.0 and res['box_norm/LR-swap'] == 0.0

    # nothing to evaluate: MMPose's PCK of nothing (0), no pairs
    res = _evaluate([invisible, flat_box])
    assert res['box_norm/num_instances'] == 0 and res[
        'box_norm/num_skipped'] == 2
    assert res['box_norm/PCK@0.1'] == 0.0 and np.isnan(res['box_norm/err/box'])
    assert np.isnan(res['box_norm/LR-swap'])


def test_keypoint_count_mismatch_is_an_error():
    metric = BoxNormalizedPoseMetric()
    metric.dataset_meta = dict(flip_indices=FLIP5)
    with pytest.raises(ValueError, match='disagree on the keypoints'):
        metric.process([], [_sample(GT5[:4], GT5, [1] * 5, BOX5)])
    with pytest.raises(
            ValueError,
            match='flip_indices has 5 entries but the poses have K=4'):
        metric.process([], [_sample(GT5[:4], GT5[:4], [1] * 4, BOX5)])


def test_bottom_up_predictions_are_an_error():
    metric = BoxNormalizedPoseMetric()
    metric.dataset_meta = dict(flip_indices=FLIP5)
    with pytest.raises(ValueError, match='top-down evaluation only'):
        metric.process([], [_sample(np.stack([GT5, GT5]), GT5, [1] * 5, BOX5)])


def test_flip_indices_from_the_sample_metainfo():
    sample = _sample(GT5[FLIP5], GT5, [1] * 5, BOX5, as_dict=False)
    sample.set_metainfo(dict(flip_indices=FLIP5))
    metric = BoxNormalizedPoseMetric()
    metric.process([], [sample.to_dict()])
    assert metric.evaluate(1)['box_norm/LR-swap'] == 1.0
    with pytest.raises(ValueError, match='needs flip_indices'):
        BoxNormalizedPoseMetric().process([],
                                          [_sample(GT5, GT5, [1] * 5, BOX5)])


def test_bad_thresholds():
    with pytest.raises(ValueError):
        BoxNormalizedPoseMetric(thrs=())
    with pytest.raises(ValueError):
        BoxNormalizedPoseMetric(thrs=(0.1, 0.10))
