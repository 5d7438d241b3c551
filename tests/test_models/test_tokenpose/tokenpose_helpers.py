"""Helpers for the TokenPose tests: small TokenPose models, and fixed batches
of the bundled COCO (K=17) / CrowdPose (K=14) images prepared by MMPose's own
datasets, transforms and heatmap codec (64×48 crops, 16×12 heatmaps, σ=2)."""
from pathlib import Path

from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope
from mmpose.registry import DATASETS, MODELS

INPUT_SIZE = (48, 64)  # (W, H)
HEATMAP_SIZE = (12, 16)  # (W, H)
CODEC = dict(
    type='MSRAHeatmap',
    input_size=INPUT_SIZE,
    heatmap_size=HEATMAP_SIZE,
    sigma=2)
DATASETS_BY_K = {
    17: ('CocoDataset', 'coco', 'test_coco.json'),
    14: ('CrowdPoseDataset', 'crowdpose', 'test_crowdpose.json'),
}


def load_batch(num_keypoints: int, fixtures_root: Path) -> dict:
    """All annotated instances of the bundled images of the K-keypoint dataset,
    as one collated batch (``inputs`` uint8 (N, 3, 64, 48), ``data_samples``
    with MSRAHeatmap targets), and its metainfo."""
    dataset_type, folder, ann = DATASETS_BY_K[num_keypoints]
    root = fixtures_root / folder
    pipeline = [
        dict(type='LoadImage'),
        dict(type='GetBBoxCenterScale'),
        dict(type='TopdownAffine', input_size=INPUT_SIZE),
        dict(type='GenerateTarget', encoder=CODEC),
        dict(type='PackPoseInputs'),
    ]
    # transforms come from MMPose's registry
    with DefaultScope.overwrite_default_scope('mmpose'):
        dataset = DATASETS.build(
            dict(
                type=dataset_type,
                data_root='',
                ann_file=str(root / ann),
                data_prefix=dict(img=str(root) + '/'),
                data_mode='topdown',
                pipeline=pipeline))
        batch = pseudo_collate([dataset[i] for i in range(len(dataset))])
    return dict(batch=batch, metainfo=dataset.metainfo)


def small_model_cfg(num_keypoints: int, **head_kwargs) -> dict:
    """A tiny TopdownPoseEstimator: TokenPoseStem (1/4, 32 ch) → TokenPoseHead
    (2×2 patches of the 16×12 map = 48 visual tokens)."""
    head = dict(
        type='TokenPoseHead',
        in_channels=32,
        out_channels=num_keypoints,
        patch_size=(2, 2),
        embed_dims=32,
        depth=2,
        num_heads=4,
        mlp_ratio=2,
        hidden_dims=96,
        loss=dict(type='KeypointMSELoss', use_target_weight=True),
        decoder=CODEC)
    head.update(head_kwargs)
    return dict(
        type='TopdownPoseEstimator',
        data_preprocessor=dict(
            type='PoseDataPreprocessor',
            mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375],
            bgr_to_rgb=True),
        backbone=dict(
            type='TokenPoseStem',
            stem_channels=16,
            out_channels=32,
            num_blocks=2),
        head=head,
        test_cfg=dict(flip_test=True, flip_mode='heatmap', shift_heatmap=True))


def build_small_model(num_keypoints: int, metainfo=None, **head_kwargs):
    # data preprocessor from MMPose's registry
    with DefaultScope.overwrite_default_scope('mmpose'):
        model = MODELS.build(small_model_cfg(num_keypoints, **head_kwargs))
    model.init_weights()
    if metainfo is not None:
        model.dataset_meta = metainfo
    return model
