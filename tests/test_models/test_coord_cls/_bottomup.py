"""The bundled COCO (K=17) / CrowdPose (K=14) images through MMPose's RTMO
(bottom-up) training pipeline without random augmentation, and a tiny RTMO-
style model, for the one-stage head tests."""
import copy

from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope
from mmpose.registry import DATASETS, MODELS

from ._data import DATASETS_K

GAU = dict(
    s=16,
    expansion_factor=2,
    dropout_rate=0.0,
    drop_path=0.0,
    act_fn='SiLU',
    pos_enc='add')


def bottomup_batch(K: int, size: int = 160):
    """(inputs (B, 3, size, size) in [0, 255], data samples with RTMO targets)
    of every bundled image (cached; callers must not modify them)."""
    key = (K, size)
    if key not in _CACHE:
        dataset_type, root, ann = DATASETS_K[K]
        codec = dict(
            type='YOLOXPoseAnnotationProcessor', input_size=(size, size))
        pipeline = [
            dict(type='LoadImage'),
            # RTMO's stage-2 affine: resize the long side and pad, no random
            # shift/rotation/scale
            dict(
                type='BottomupRandomAffine',
                input_size=(size, size),
                shift_prob=0,
                rotate_prob=0,
                scale_prob=0,
                scale_type='long',
                pad_val=(114, 114, 114),
                bbox_keep_corner=False,
                clip_border=True),
            dict(
                type='FilterAnnotations',
                by_kpt=True,
                by_box=True,
                keep_empty=False),
            dict(type='GenerateTarget', encoder=codec),
            dict(type='PackPoseInputs')
        ]
        # transforms resolve in MMPose's registry
        with DefaultScope.overwrite_default_scope('mmpose'):
            dataset = DATASETS.build(
                dict(
                    type=dataset_type,
                    data_root=str(root),
                    ann_file=ann,
                    data_mode='bottomup',
                    data_prefix=dict(img=''),
                    pipeline=pipeline))
            items = [dataset[i] for i in range(len(dataset))]
            preprocessor = MODELS.build(
                dict(
                    type='PoseDataPreprocessor',
                    pad_size_divisor=32,
                    mean=[0, 0, 0],
                    std=[1, 1, 1]))
        data = preprocessor(pseudo_collate(items), training=True)
        _CACHE[key] = data['inputs'], data['data_samples']
    return _CACHE[key]


_CACHE = {}


def head_cfg(K: int,
             head_type: str = 'RTMOSineCCHead',
             channels: int = 32,
             **overrides) -> dict:
    """A small RTMO head config (MMPose's RTMO-s recipe at 1/8 width;
    ``head_type='RTMOHead'`` gives MMPose's head with the same layers).

    Its inputs are two levels of 2·``channels`` channels at strides 16 and 32
    (the head module splits them into a classification and a pose half).
    """
    widen = channels / 256
    cfg = dict(
        type=head_type,
        num_keypoints=K,
        featmap_strides=(16, 32),
        head_module_cfg=dict(
            num_classes=1,
            in_channels=256,
            cls_feat_channels=256,
            channels_per_group=36,
            pose_vec_channels=channels,
            widen_factor=widen,
            stacked_convs=2,
            norm_cfg=dict(type='BN', momentum=0.03, eps=0.001),
            act_cfg=dict(type='Swish')),
        assigner=dict(
            type='SimOTAAssigner',
            dynamic_k_indicator='oks',
            oks_calculator=dict(type='PoseOKS', metainfo=_metafile(K)),
            use_keypoints_for_center=True),
        prior_generator=dict(
            type='MlvlPointGenerator',
            centralize_points=True,
            strides=[16, 32]),
        dcc_cfg=dict(
            in_channels=channels,
            feat_channels=16,
            num_bins=(24, 32),
            spe_channels=16,
            gau_cfg=GAU),
        overlaps_power=0.5,
        loss_cls=dict(
            type='VariFocalLoss',
            reduction='sum',
            use_target_weight=True,
            loss_weight=1.0),
        loss_bbox=dict(
            type='IoULoss',
            mode='square',
            eps=1e-16,
            reduction='sum',
            loss_weight=5.0),
        loss_oks=dict(
            type='OKSLoss',
            reduction='none',
            metainfo=_metafile(K),
            loss_weight=30.0),
        loss_vis=dict(
            type='BCELoss',
            use_target_weight=True,
            reduction='mean',
            loss_weight=1.0),
        loss_mle=(dict(
            type='CoordMLELoss',
            loss_weight=1.0) if head_type != 'RTMOHead' else dict(
                type='MLECCLoss', use_target_weight=True, loss_weight=1.0)))
    cfg.update(overrides)
    return copy.deepcopy(cfg)


def _metafile(K: int) -> str:
    return {
        17: 'configs/_base_/datasets/coco.py',
        14: 'configs/_base_/datasets/crowdpose.py'
    }[K]


def tiny_model_cfg(K: int) -> dict:
    """BottomupPoseEstimator: CSPNeXt (widen 0.125) → ChannelMapper (64 ch,
    strides 16/32) → our head."""
    return dict(
        type='BottomupPoseEstimator',
        data_preprocessor=dict(
            type='PoseDataPreprocessor',
            pad_size_divisor=32,
            mean=[0, 0, 0],
            std=[1, 1, 1]),
        backbone=dict(
            type='CSPNeXt',
            arch='P5',
            deepen_factor=0.167,
            widen_factor=0.125,
            out_indices=(3, 4),
            norm_cfg=dict(type='BN', momentum=0.03, eps=0.001),
            act_cfg=dict(type='SiLU'),
            init_cfg=None),
        neck=dict(
            type='ChannelMapper',
            in_channels=[64, 128],
            out_channels=64,
            kernel_size=1,
            num_outs=2,
            norm_cfg=dict(type='BN'),
            act_cfg=None),
        head=head_cfg(K),
        test_cfg=dict(input_size=(160, 160), score_thr=0.01, nms_thr=0.65))
