"""MeanPoseBaseline: the mean pose by hand on a tiny annotation file, its
placement in boxes, its errors, and end to end through MMEngine's Runner.test()
on the bundled COCO fixtures with CocoMetric and BoxNormalizedPoseMetric."""
import json

import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData
from mmpose.registry import MODELS
from mmpose.structures import PoseDataSample

from mmpose_ext.evaluation import (MeanPoseBaseline, compute_mean_pose,
                                   evaluate_no_skill)


def _tiny_coco(path, annotations, num_keypoints=3):
    coco = dict(
        images=[dict(id=1, file_name='a.jpg', width=640, height=480)],
        categories=[
            dict(
                id=1,
                name='person',
                keypoints=[f'k{i}' for i in range(num_keypoints)])
        ],
        annotations=[
            dict(id=i + 1, image_id=1, category_id=1, iscrowd=0, **a)
            for i, a in enumerate(annotations)
        ])
    path.write_text(json.dumps(coco))
    return path


@pytest.fixture
def tiny_ann(tmp_path):
    """Person 1, box (10, 20, 100, 200): k0 (60, 120) → (0.5, 0.5), k1 (10, 20)

    → (0, 0), k2 unlabelled.

    Person 2, box (0, 0, 50, 50): k0 (50, 0) → (1, 0), k1 (25, 25) → (0.5,
    0.5), k2 unlabelled. Person 3: a zero-width box, ignored. Mean: k0 (0.75,
    0.25), k1 (0.25, 0.25), k2 never labelled → (0.5, 0.5).
    """
    return _tiny_coco(tmp_path / 'train.json', [
        dict(
            bbox=[10, 20, 100, 200],
            keypoints=[60, 120, 2, 10, 20, 1, 0, 0, 0]),
        dict(bbox=[0, 0, 50, 50], keypoints=[50, 0, 2, 25, 25, 2, 0, 0, 0]),
        dict(bbox=[5, 5, 0, 50], keypoints=[5, 5, 2, 5, 5, 2, 5, 5, 2]),
    ])


def test_mean_pose_by_hand(tiny_ann):
    np.testing.assert_allclose(
        compute_mean_pose(tiny_ann), [[0.75, 0.25], [0.25, 0.25], [0.5, 0.5]])


def _samples(boxes, num_keypoints=3):
    samples = []
    for box in boxes:
        sample = PoseDataSample(
            metainfo=dict(flip_indices=list(range(num_keypoints))))
        sample.gt_instances = InstanceData(
            bboxes=np.asarray([box], np.float32),
            bbox_scores=np.ones(1, np.float32))
        samples.append(sample)
    return samples


def test_predict_places_the_mean_pose_in_each_box(tiny_ann):
    model = MODELS.build(dict(type='MeanPoseBaseline', ann_file=str(tiny_ann)))
    assert isinstance(model, MeanPoseBaseline) and model.num_keypoints == 3
    assert not list(model.parameters()) and 'mean_pose' in model.state_dict()
    out = model(
        None, _samples([[0, 0, 100, 100], [10, 20, 30, 60]]), mode='predict')
    np.testing.assert_allclose(out[0].pred_instances.keypoints,
                               [[[75, 25], [25, 25], [50, 50]]])
    np.testing.assert_allclose(out[1].pred_instances.keypoints,
                               [[[25, 30], [15, 30], [20, 40]]])
    for sample in out:
        assert sample.pred_instances.keypoints.shape == (1, 3, 2)
        np.testing.assert_array_equal(sample.pred_instances.keypoint_scores,
                                      np.ones((1, 3)))
        np.testing.assert_array_equal(sample.pred_instances.bboxes,
                                      sample.gt_instances.bboxes)
    tensor = model(None, _samples([[0, 0, 100, 100]]), mode='tensor')
    assert isinstance(tensor, torch.Tensor) and tensor.shape == (1, 3, 2)


def test_errors(tiny_ann):
    model = MeanPoseBaseline(tiny_ann)
    with pytest.raises(
            ValueError, match='K=3 keypoints but the test data has K=17'):
        model(
            None, _samples([[0, 0, 10, 10]], num_keypoints=17), mode='predict')
    with pytest.raises(RuntimeError, match='nothing to train'):
        model(None, _samples([[0, 0, 10, 10]]), mode='loss')


def _dataloader(data_root, ann_file):
    pipeline = [
        dict(type='LoadImage'),
        dict(type='GetBBoxCenterScale'),
        dict(type='TopdownAffine', input_size=(48, 64)),
        dict(type='PackPoseInputs')
    ]
    return dict(
        batch_size=4,
        num_workers=0,
        persistent_workers=False,
        sampler=dict(type='DefaultSampler', shuffle=False),
        dataset=dict(
            type='CocoDataset',
            data_root=str(data_root),
            data_mode='topdown',
            ann_file=str(ann_file),
            data_prefix=dict(img=''),
            bbox_file=None,
            test_mode=True,
            pipeline=pipeline))


def _evaluators(ann_file):
    return [
        dict(type='CocoMetric', ann_file=str(ann_file)),
        dict(type='BoxNormalizedPoseMetric')
    ]


def test_runner_test_on_coco_fixtures(coco_fixtures, tmp_path):
    ann = coco_fixtures / 'test_coco.json'
    # MMPose's, key 'PCK'
    evaluators = _evaluators(ann) + [
        dict(type='PCKAccuracy', thr=0.1, norm_item='bbox')
    ]
    metrics = evaluate_no_skill(ann, _dataloader(coco_fixtures, ann),
                                evaluators, tmp_path)
    assert metrics['box_norm/PCK@0.1'] == pytest.approx(
        metrics['PCK'], abs=1e-12)
    for key in ('coco/AP', 'coco/AP .5', 'box_norm/PCK@0.1',
                'box_norm/PCK@0.2', 'box_norm/err/box', 'box_norm/LR-swap'):
        assert 0 <= metrics[key] <= 1, (key, metrics[key])
    # CocoDataset drops the 2 of 14 people without labelled keypoints; every
    # other one is evaluated
    assert metrics['box_norm/num_instances'] == 12 and metrics[
        'box_norm/num_skipped'] == 0
    assert metrics['box_norm/PCK@0.1'] < metrics['box_norm/PCK@0.2'] < 1
    # no skill: far from the people's real poses
    assert metrics['box_norm/err/box'] > 0.05


def test_single_person_train_equals_test_is_perfect(coco_fixtures, tmp_path):
    coco = json.loads((coco_fixtures / 'test_coco.json').read_text())
    coco['images'] = [im for im in coco['images'] if im['id'] == 785]
    coco['annotations'] = [
        a for a in coco['annotations'] if a['image_id'] == 785
    ]
    assert len(coco['annotations']) == 1
    ann = tmp_path / 'one.json'
    ann.write_text(json.dumps(coco))
    metrics = evaluate_no_skill(ann, _dataloader(coco_fixtures, ann),
                                _evaluators(ann), tmp_path)
    assert metrics['box_norm/PCK@0.1'] == 1.0 and metrics[
        'box_norm/PCK@0.2'] == 1.0
    assert metrics['box_norm/err/box'] < 1e-5 and metrics[
        'box_norm/num_instances'] == 1
    assert metrics['coco/AP'] == pytest.approx(1.0)


def test_keypoint_count_must_match_the_dataset(coco_fixtures, tmp_path,
                                               tiny_ann):
    ann = coco_fixtures / 'test_coco.json'
    with pytest.raises(ValueError, match='K=3 keypoints but the test dataset'):
        evaluate_no_skill(tiny_ann, _dataloader(coco_fixtures, ann),
                          _evaluators(ann), tmp_path)
