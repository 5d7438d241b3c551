"""A small Poseur (ResNet-18 at quarter width, 32-d decoder) and data samples
shared by the tests."""
import pytest
import torch
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData
from mmpose.structures import PoseDataSample

# the estimator builds its data preprocessor from the default scope
init_default_scope('mmpose')

INPUT_SIZE = (48, 64)  # (w, h)


def small_poseur_cfg(num_keypoints=None, metainfo=None, **head):
    """TopdownPoseEstimator config: tiny ResNet-18 → ChannelMapper(GN) →
    PoseurHead."""
    head_cfg = dict(
        type='PoseurHead',
        in_channels=32,
        embed_dims=32,
        num_heads=4,
        num_points=2,
        num_decoder_layers=2,
        feedforward_channels=64,
        num_keypoints=num_keypoints,
        metainfo=metainfo,
        decoder=dict(type='RegressionLabel', input_size=INPUT_SIZE))
    head_cfg.update(head)
    return dict(
        type='TopdownPoseEstimator',
        data_preprocessor=dict(
            type='PoseDataPreprocessor',
            mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375],
            bgr_to_rgb=True),
        backbone=dict(
            type='ResNet',
            depth=18,
            stem_channels=16,
            base_channels=16,
            out_indices=(0, 1, 2, 3),
            init_cfg=None),
        neck=dict(
            type='ChannelMapper',
            in_channels=[16, 32, 64, 128],
            kernel_size=1,
            out_channels=32,
            act_cfg=None,
            norm_cfg=dict(type='GN', num_groups=8)),
        head=head_cfg,
        test_cfg=dict(flip_test=True))


def fake_samples(batch, num_keypoints, flip_indices=None):
    samples = []
    for _ in range(batch):
        sample = PoseDataSample()
        sample.gt_instance_labels = InstanceData(
            keypoint_labels=torch.rand(1, num_keypoints, 2) * 0.8 + 0.1,
            keypoint_weights=torch.ones(1, num_keypoints))
        sample.set_metainfo(
            dict(
                flip_indices=flip_indices or list(range(num_keypoints)),
                input_size=INPUT_SIZE))
        samples.append(sample)
    return samples


@pytest.fixture
def poseur_cfg():
    return small_poseur_cfg


@pytest.fixture
def samples():
    return fake_samples


@pytest.fixture(autouse=True)
def _one_thread():
    """These models are tiny: intra-op threads cost more in synchronisation
    than they save (a 50-step overfit took 17 s on one thread and minutes on
    two busy cores), so run them on one and restore."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
