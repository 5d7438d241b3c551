"""Tiny randomly initialised models for the runtime tests: every exportable
top-down head from ``configs/synthetic/*_synthetic-128x96.py`` (the
transformers shortened), no flip test (the exported graphs have none), and a
tiny one-stage RTMO-style model (CSPNeXt at 1/8 width, 160x160,
``RTMOSineCCHead``)."""
from pathlib import Path

import numpy as np
import torch
from mmengine.config import Config

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / 'data/fixtures/coco'
ANN = FIXTURES / 'test_coco.json'
SYNTHETIC = REPO / 'configs/synthetic'

#: head name → (config, overrides of model.head)
TOPDOWN = {
    'heatmap': ('td-hm_effnet-lite0_synthetic-128x96.py', {}),
    'rle': ('td-reg_rle_effnet-lite0_synthetic-128x96.py', {}),
    'rle-flow-laplace':
    ('td-reg_rle-flow-laplace_effnet-lite0_synthetic-128x96.py', {}),
    'simcc': ('simcc_effnet-lite0_synthetic-128x96.py', {}),
    'sinecc': ('sinecc_effnet-lite0_synthetic-128x96.py', {}),
    'tokenpose': ('tokenpose_effnet-lite0_synthetic-128x96.py', dict(depth=2)),
    'poseur':
    ('poseur_effnet-lite0_synthetic-128x96.py', dict(num_decoder_layers=2)),
}


def topdown_model(name: str, **codec):
    """MMPose's ``init_model`` of a synthetic config with random weights
    (``codec`` overrides the heatmap codec, e.g. ``unbiased=True`` for DARK),
    flip test off.

    Returns (model, cfg).
    """
    from mmpose.apis import init_model

    config, head = TOPDOWN[name]
    cfg = Config.fromfile(str(SYNTHETIC / config))
    cfg.model.backbone.init_cfg = None  # random weights, no checkpoint
    cfg.model.head.update(head)
    if codec:
        cfg.codec.update(codec)
        cfg.model.head.decoder.update(codec)
    cfg.model.test_cfg['flip_test'] = False
    torch.manual_seed(0)
    model = init_model(cfg, None, device='cpu')
    # keypoint tokens drawn at N(0, 1) instead of 0.02: distinct random
    # keypoints
    if name == 'tokenpose':
        with torch.no_grad():
            model.head.keypoint_tokens.normal_()
    return model, cfg


def gt_boxes(image: Path) -> np.ndarray:
    from mmpose_ext.tools.demo import gt_boxes as boxes
    return boxes(ANN, image)


def reference(model, files):
    """MMPose's ``inference_topdown`` per image on the annotated people: {file:

    (keypoints, scores)}.
    """
    from mmpose.apis import inference_topdown

    out = {}
    for f in files:
        res = inference_topdown(
            model, str(f), gt_boxes(Path(f)), bbox_format='xyxy')
        out[str(f)] = (np.concatenate([
            r.pred_instances.keypoints for r in res
        ]), np.concatenate([r.pred_instances.keypoint_scores for r in res]))
    return out


GAU = dict(
    s=16,
    expansion_factor=2,
    dropout_rate=0.0,
    drop_path=0.0,
    act_fn='SiLU',
    pos_enc='add')
COCO_META = 'configs/_base_/datasets/coco.py'


def rtmo_cfg(size: int = 160,
             channels: int = 32,
             score_thr: float = 0.02,
             nms_thr: float = 0.65) -> Config:
    """A tiny RTMO-style config (RTMO-s's head at 1/8 width) with MMPose's RTMO
    test pipeline."""
    head = dict(
        type='RTMOSineCCHead',
        num_keypoints=17,
        featmap_strides=(16, 32),
        # every grid point: the graph's candidates = predict's
        num_dets=(size // 16)**2 + (size // 32)**2,
        head_module_cfg=dict(
            num_classes=1,
            in_channels=256,
            cls_feat_channels=256,
            channels_per_group=36,
            pose_vec_channels=channels,
            widen_factor=channels / 256,
            stacked_convs=2,
            norm_cfg=dict(type='BN', momentum=0.03, eps=0.001),
            act_cfg=dict(type='Swish')),
        assigner=dict(
            type='SimOTAAssigner',
            dynamic_k_indicator='oks',
            oks_calculator=dict(type='PoseOKS', metainfo=COCO_META),
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
            metainfo=COCO_META,
            loss_weight=30.0),
        loss_vis=dict(
            type='BCELoss',
            use_target_weight=True,
            reduction='mean',
            loss_weight=1.0),
        loss_mle=dict(type='CoordMLELoss', loss_weight=1.0))
    pipeline = [
        dict(type='LoadImage'),
        dict(
            type='BottomupResize',
            input_size=(size, size),
            pad_val=(114, 114, 114)),
        dict(
            type='PackPoseInputs',
            meta_keys=('id', 'img_id', 'img_path', 'ori_shape', 'img_shape',
                       'input_size', 'input_center', 'input_scale'))
    ]
    return Config(
        dict(
            default_scope='mmpose',
            model=dict(
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
                head=head,
                test_cfg=dict(
                    input_size=(size, size),
                    score_thr=score_thr,
                    nms_thr=nms_thr)),
            test_dataloader=dict(
                dataset=dict(
                    type='CocoDataset',
                    data_mode='bottomup',
                    metainfo=dict(from_file=COCO_META),
                    pipeline=pipeline))))


def rtmo_model(**kwargs):
    from mmpose.apis import init_model

    torch.manual_seed(0)
    model = init_model(rtmo_cfg(**kwargs), None, device='cpu')
    model.init_weights()
    return model.eval()


def scai_model():
    """SCAI on the random heatmap model (no test-time adaptation, no flip):
    built with MMPose's registry (``init_model`` looks for
    ``cfg.model.backbone``, which a wrapper has not), config and dataset meta
    set as ``init_model`` sets them.

    Returns (model, cfg).
    """
    from mmengine.registry import DefaultScope
    from mmpose.registry import MODELS

    cfg = Config.fromfile(
        str(SYNTHETIC / 'scai_td-hm-effnet-lite0_synthetic-128x96.py'))
    cfg.model.base_checkpoint = None
    cfg.model.base_model.backbone.init_cfg = None
    cfg.model.base_model.test_cfg['flip_test'] = False
    cfg.model.test_cfg['flip_test'] = False
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmpose'):
        model = MODELS.build(cfg.model).eval()
    model.cfg = cfg
    model.dataset_meta = topdown_model('heatmap')[0].dataset_meta
    return model, cfg
