"""Small SCAI set-ups shared by the SCAI tests (imported as ``scai_testing``;
fixtures are in conftest):

a tiny heatmap model (the first three stages of a ResNet-18, stride 16, two
deconvolutions) at 64×48 input, 16×12 heatmaps, and batches of the bundled COCO
/ CrowdPose fixtures through MMPose's own top-down pipeline.
"""
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope
from mmpose.registry import DATASETS

INPUT_SIZE = (48, 64)  # (w, h)
HEATMAP_SIZE = (12, 16)


def tiny_codec():
    return dict(
        type='MSRAHeatmap',
        input_size=INPUT_SIZE,
        heatmap_size=HEATMAP_SIZE,
        sigma=1)


def tiny_base_model(num_keypoints: int = 17) -> dict:
    """An MMPose TopdownPoseEstimator config: ResNet-18 stages 1-3 (no
    pretrained weights) + HeatmapHead."""
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
            num_stages=3,
            strides=(1, 2, 2),
            dilations=(1, 1, 1),
            out_indices=(2, ),
            init_cfg=None),
        head=dict(
            type='HeatmapHead',
            in_channels=256,
            out_channels=num_keypoints,
            deconv_out_channels=(16, 16),
            deconv_kernel_sizes=(4, 4),
            loss=dict(type='KeypointMSELoss', use_target_weight=True),
            decoder=tiny_codec()),
        test_cfg=dict(flip_test=True, flip_mode='heatmap', shift_heatmap=True))


def tiny_scai(num_keypoints: int = 17, chains='coco', **kwargs) -> dict:
    """An SCAIPoseEstimator config on :func:`tiny_base_model` with narrow,
    shallow-by-option networks."""
    cfg = dict(
        type='SCAIPoseEstimator',
        base_model=tiny_base_model(num_keypoints),
        chains=chains,
        phi=dict(type='SCAIPredictionNet', width=16, feat_proj_channels=8),
        gamma=dict(type='SCAIFeedbackNet', width=16, feat_proj_channels=8),
        correction=dict(type='SCAICorrectionNet', width=16))
    cfg.update(kwargs)
    return cfg


def fixture_batch(root, dataset_type: str, ann: str, test_mode: bool = False):
    """All instances of a fixture set as one collated batch (gt heatmaps and
    weights included)."""
    pipeline = [
        dict(type='LoadImage'),
        dict(type='GetBBoxCenterScale'),
        dict(type='TopdownAffine', input_size=INPUT_SIZE),
        dict(type='GenerateTarget', encoder=tiny_codec()),
        dict(type='PackPoseInputs'),
    ]
    # MMPose's transforms live in its scope
    with DefaultScope.overwrite_default_scope('mmpose'):
        dataset = DATASETS.build(
            dict(
                type=dataset_type,
                data_root=str(root),
                ann_file=ann,
                data_prefix=dict(img=''),
                pipeline=pipeline,
                test_mode=test_mode))
        return pseudo_collate([dataset[i] for i in range(len(dataset))])


def small_nets(num_layers: int = 3, norm_cfg=None) -> dict:
    """Φ, Γ and C of 3 layers of width 16 without BatchNorm by default: fast,
    and with no statistics across the batch, so that 2 processes × 2 instances
    compute what 1 process × 4 instances does."""
    return dict(
        phi=dict(
            type='SCAIPredictionNet',
            width=16,
            feat_proj_channels=8,
            num_layers=num_layers,
            norm_cfg=norm_cfg),
        gamma=dict(
            type='SCAIFeedbackNet',
            width=16,
            feat_proj_channels=8,
            num_layers=num_layers,
            norm_cfg=norm_cfg),
        correction=dict(
            type='SCAICorrectionNet',
            width=16,
            num_layers=num_layers,
            norm_cfg=norm_cfg))
