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


# Detection boxes (an MMPose dataset's bbox_file): every sample's ground truth
# is MMPose's placeholder, zero keypoints all "visible".
def _detection(pred, box, score, img_id=1):
    """One detection-box data sample as MMPose's COCO-style dataset makes it:

    pred (K, 2), box xyxy.
    """
    sample = _sample(pred, np.zeros_like(GT5), [1] * 5, box, as_dict=False)
    sample.gt_instances.bbox_scores = np.array([score], np.float32)
    sample.set_metainfo(dict(img_id=img_id))
    return sample.to_dict()


def _annotation(ann_id, img_id, keypoints, box, labelled=True, crowd=0):
    x0, y0, x1, y1 = box
    kpts = np.concatenate([keypoints,
                           np.full((5, 1), 2 if labelled else 0)],
                          axis=1)
    return dict(
        id=ann_id,
        image_id=img_id,
        category_id=1,
        iscrowd=crowd,
        bbox=[x0, y0, x1 - x0, y1 - y0],
        keypoints=kpts.reshape(-1).tolist(),
        num_keypoints=5 if labelled else 0)


def test_detection_boxes_are_matched_to_the_annotated_people(tmp_path):
    """Image 1: people A and B (box size 200), a crowd region, a person without
    labelled keypoints and a person C nobody detected. Detections, highest
    score first: d1 on A (IoU 0.855), d2 exactly on A but lower scored, d3 on
    B.

    By hand: d1 → A (taken first: score order, not IoU order), d2 finds A
    taken and nothing else above IoU 0.5 → unmatched, d3 → B, C missed. d1 is
    off by (10, 0) on every keypoint: 10 / 200 = 0.05; d3 by (0, 30):
    0.15. PCK@0.1: each keypoint type has one of its two within 0.1 → 0.5;
    PCK@0.2: 1; err/box: (5·0.05 + 5·0.15) / 10 = 0.1.
    """
    box_a, box_b = [0, 0, 100, 200], [200, 0, 300, 200]
    box_c = [400, 0, 500, 200]
    gt_a, gt_b, gt_c = GT5, GT5 + [200, 0], GT5 + [400, 0]
    ann = dict(
        images=[dict(id=1, file_name='1.jpg', width=600, height=300)],
        categories=[dict(id=1, name='person')],
        annotations=[
            _annotation(1, 1, gt_a, box_a),
            _annotation(2, 1, gt_b, box_b),
            _annotation(3, 1, gt_a, box_a, crowd=1),
            _annotation(4, 1, gt_a, box_a, labelled=False),
            _annotation(5, 1, gt_c, box_c),
        ])
    path = tmp_path / 'ann.json'
    path.write_text(json.dumps(ann))
    d1 = _detection(gt_a + [10, 0], [0, 0, 90, 190], 0.9)  # IoU 0.855
    d2 = _detection(gt_a + [40, 40], box_a, 0.8)
    d3 = _detection(gt_b + [0, 30], box_b, 0.7)
    res = _evaluate([d3, d2, d1], ann_file=str(path))
    assert res['box_norm/num_matched'] == 2
    assert res['box_norm/num_unmatched'] == 1
    assert res['box_norm/num_missed'] == 1
    assert res['box_norm/num_instances'] == 2
    assert res['box_norm/PCK@0.1'] == pytest.approx(0.5)
    assert res['box_norm/PCK@0.2'] == pytest.approx(1.0)
    assert res['box_norm/err/box'] == pytest.approx(0.1)
    # a stricter IoU leaves d1 (IoU 0.855) unmatched: d2 then takes A
    res = _evaluate([d3, d2, d1], ann_file=str(path), match_iou=0.9)
    assert res['box_norm/num_matched'] == 2
    assert res['box_norm/num_unmatched'] == 1
    assert res['box_norm/err/box'] == pytest.approx(
        (5 * np.hypot(40, 40) / 200 + 5 * 0.15) / 10)


def test_detection_boxes_without_the_annotation_file_are_an_error():
    """Before: scored against the placeholders (PCK@0.1 0.0002, err/box 2.37
    on the synthetic model)."""
    metric = BoxNormalizedPoseMetric()
    metric.dataset_meta = dict(flip_indices=FLIP5)
    with pytest.raises(ValueError, match=r'placeholder.*ann_file'):
        metric.process([], [_detection(GT5, BOX5, 0.9)])
    with pytest.raises(ValueError, match='match_iou'):
        BoxNormalizedPoseMetric(match_iou=0)
