"""Small SCAI set-ups shared by the SCAI tests: a tiny ResNet-18 heatmap model at 128×96 (32×24 heatmaps)
and batches of the bundled COCO / CrowdPose fixtures through MMPose's own top-down pipeline."""
import pytest
from mmengine.dataset import pseudo_collate

from mmpose.registry import DATASETS

INPUT_SIZE = (96, 128)  # (w, h)
HEATMAP_SIZE = (24, 32)


def tiny_codec():
    return dict(type='MSRAHeatmap', input_size=INPUT_SIZE, heatmap_size=HEATMAP_SIZE, sigma=1)


def tiny_base_model(num_keypoints: int = 17) -> dict:
    """An MMPose TopdownPoseEstimator config: ResNet-18 (no pretrained weights) + HeatmapHead."""
    return dict(
        type='TopdownPoseEstimator',
        data_preprocessor=dict(type='PoseDataPreprocessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
        backbone=dict(type='ResNet', depth=18, init_cfg=None),
        head=dict(type='HeatmapHead', in_channels=512, out_channels=num_keypoints,
                  deconv_out_channels=(32, 32, 32), deconv_kernel_sizes=(4, 4, 4),
                  loss=dict(type='KeypointMSELoss', use_target_weight=True), decoder=tiny_codec()),
        test_cfg=dict(flip_test=True, flip_mode='heatmap', shift_heatmap=True))


def tiny_scai(num_keypoints: int = 17, chains='coco', **kwargs) -> dict:
    """An SCAIPoseEstimator config on :func:`tiny_base_model` with narrow, shallow-by-option networks."""
    cfg = dict(type='SCAIPoseEstimator', base_model=tiny_base_model(num_keypoints), chains=chains,
               phi=dict(type='SCAIPredictionNet', width=16, feat_proj_channels=8),
               gamma=dict(type='SCAIFeedbackNet', width=16, feat_proj_channels=8),
               correction=dict(type='SCAICorrectionNet', width=16))
    cfg.update(kwargs)
    return cfg


def fixture_batch(root, dataset_type: str, ann: str, test_mode: bool = False):
    """All instances of a fixture set as one collated batch (gt heatmaps and weights included)."""
    pipeline = [
        dict(type='LoadImage'),
        dict(type='GetBBoxCenterScale'),
        dict(type='TopdownAffine', input_size=INPUT_SIZE),
        dict(type='GenerateTarget', encoder=tiny_codec()),
        dict(type='PackPoseInputs'),
    ]
    dataset = DATASETS.build(dict(type=dataset_type, data_root=str(root), ann_file=ann,
                                  data_prefix=dict(img=''), pipeline=pipeline, test_mode=test_mode))
    return pseudo_collate([dataset[i] for i in range(len(dataset))])


@pytest.fixture(scope='session')
def coco_batch(coco_fixtures):
    return fixture_batch(coco_fixtures, 'CocoDataset', 'test_coco.json')


@pytest.fixture(scope='session')
def crowdpose_batch(crowdpose_fixtures):
    return fixture_batch(crowdpose_fixtures, 'CrowdPoseDataset', 'test_crowdpose.json')
