# MMPose's one-stage RTMO (RTMOHead: YOLOX-Pose detection, SimOTA, DCC with
# MMPose's MLECCLoss) on generated multi-person images, for the one-stage rows
# of the benchmark; its twin rtmo-sinecc_effnet-lite0_synthetic-256x256.py
# changes only the head. RTMO-s's recipe scaled to a CPU budget:
# - the ImageNet EfficientNet-Lite0 (stem and stages 0-1 frozen, as every
#   synthetic config) instead of YOLOX-s's CSPDarknet; stages 2, 4, 6
#   (strides 8, 16, 32; 40, 112, 320 channels);
# - MMPose's HybridEncoder (RTMO's neck: one transformer layer on the stride-32
#   level, FPN + PAN) at 128 channels instead of 256, output strides 16 and 32;
# - 256x256 input (the generated images are 192-320 px), no mosaic / mix-up
#   (RTMO's stage-2 pipeline plus its random affine); batch 16;
# - AdamW 2e-3 (the synthetic setting's rate), RTMO's weight decay 0.05
#   without decay on norms and biases, RTMO's gradient clipping at 0.1;
# - RTMO's losses and weights of its first stage (MLE weight 1, OKS 30).
# Evaluation: MMPose's CocoMetric as RTMO's configs set it (score from the
# boxes, no OKS-NMS) and our MatchedPoseMetric (each person matched by OKS:
# box-normalised PCK, error and recall).
_base_ = ['mmpose::_base_/default_runtime.py']

custom_imports = dict(imports=['mmpose_ext'], allow_failed_imports=False)

data_root = 'data/synthetic/'
dataset_type = 'CocoDataset'
data_mode = 'bottomup'
input_size = (256, 256)
metafile = 'configs/_base_/datasets/coco.py'
max_epochs = 30

train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=5)
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.05),
    paramwise_cfg=dict(
        norm_decay_mult=0, bias_decay_mult=0, bypass_duplicate=True),
    clip_grad=dict(max_norm=0.1, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', begin=0, end=100, start_factor=0.01, by_epoch=False),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs,
        eta_min_ratio=0.01,
        begin=0,
        end=max_epochs,
        by_epoch=True,
        convert_to_iter_based=True),
]
auto_scale_lr = dict(enable=False, base_batch_size=16)

codec = dict(type='YOLOXPoseAnnotationProcessor', input_size=input_size)

model = dict(
    type='BottomupPoseEstimator',
    # the synthetic configs' ImageNet normalisation (RGB, (x - 127) / 128)
    data_preprocessor=dict(
        type='PoseDataPreprocessor',
        pad_size_divisor=32,
        mean=[127.0, 127.0, 127.0],
        std=[128.0, 128.0, 128.0],
        bgr_to_rgb=True),
    backbone=dict(
        type='EfficientNetLite',
        arch='lite0',
        out_indices=(2, 4, 6),
        frozen_stages=2,
        init_cfg=dict(
            type='Pretrained', checkpoint='efficientnet-lite://lite0')),
    neck=dict(
        type='HybridEncoder',
        in_channels=[40, 112, 320],
        deepen_factor=0.33,
        widen_factor=1.0,
        hidden_dim=128,
        output_indices=[1, 2],
        encoder_cfg=dict(
            self_attn_cfg=dict(embed_dims=128, num_heads=4, dropout=0.0),
            ffn_cfg=dict(
                embed_dims=128,
                feedforward_channels=512,
                ffn_drop=0.0,
                act_cfg=dict(type='GELU'))),
        projector=dict(
            type='ChannelMapper',
            in_channels=[128, 128],
            kernel_size=1,
            out_channels=128,
            act_cfg=None,
            norm_cfg=dict(type='BN'),
            num_outs=2)),
    head=dict(
        type='RTMOHead',
        num_keypoints=17,
        featmap_strides=(16, 32),
        head_module_cfg=dict(
            num_classes=1,
            in_channels=128,
            cls_feat_channels=128,
            channels_per_group=36,
            pose_vec_channels=128,
            # the 128 channels split into two 64-channel branches, as RTMO-s
            # splits 256 at widen 0.5
            widen_factor=0.5,
            stacked_convs=2,
            norm_cfg=dict(type='BN', momentum=0.03, eps=0.001),
            act_cfg=dict(type='Swish')),
        assigner=dict(
            type='SimOTAAssigner',
            dynamic_k_indicator='oks',
            oks_calculator=dict(type='PoseOKS', metainfo=metafile),
            use_keypoints_for_center=True),
        prior_generator=dict(
            type='MlvlPointGenerator',
            centralize_points=True,
            strides=[16, 32]),
        dcc_cfg=dict(
            in_channels=128,
            feat_channels=128,
            num_bins=(192, 256),
            spe_channels=128,
            gau_cfg=dict(
                s=128,
                expansion_factor=2,
                dropout_rate=0.0,
                drop_path=0.0,
                act_fn='SiLU',
                pos_enc='add')),
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
            metainfo=metafile,
            loss_weight=30.0),
        loss_vis=dict(
            type='BCELoss',
            use_target_weight=True,
            reduction='mean',
            loss_weight=1.0),
        loss_mle=dict(
            type='MLECCLoss', use_target_weight=True, loss_weight=1.0),
        loss_bbox_aux=dict(type='L1Loss', reduction='sum', loss_weight=1.0)),
    test_cfg=dict(input_size=input_size, score_thr=0.1, nms_thr=0.65))

train_pipeline = [
    dict(type='LoadImage'),
    dict(
        type='BottomupRandomAffine',
        input_size=input_size,
        shift_factor=0.1,
        rotate_factor=10,
        scale_factor=(0.75, 1.0),
        pad_val=114,
        distribution='uniform',
        transform_mode='perspective',
        bbox_keep_corner=False,
        clip_border=True),
    dict(type='YOLOXHSVRandomAug'),
    dict(type='RandomFlip'),
    dict(type='FilterAnnotations', by_kpt=True, by_box=True, keep_empty=False),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs'),
]
val_pipeline = [
    dict(type='LoadImage'),
    dict(
        type='BottomupResize', input_size=input_size, pad_val=(114, 114, 114)),
    dict(
        type='PackPoseInputs',
        meta_keys=('id', 'img_id', 'img_path', 'ori_shape', 'img_shape',
                   'input_size', 'input_center', 'input_scale')),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_mode=data_mode,
        ann_file='annotations/person_keypoints_train.json',
        data_prefix=dict(img='train/'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_mode=data_mode,
        ann_file='annotations/person_keypoints_val.json',
        data_prefix=dict(img='val/'),
        test_mode=True,
        pipeline=val_pipeline))
test_dataloader = val_dataloader
val_evaluator = [
    dict(
        type='CocoMetric',
        ann_file=data_root + 'annotations/person_keypoints_val.json',
        score_mode='bbox',
        nms_mode='none'),
    dict(type='MatchedPoseMetric'),
]
test_evaluator = val_evaluator
default_hooks = dict(
    checkpoint=dict(interval=5, max_keep_ckpts=1), logger=dict(interval=20))
custom_hooks = [
    dict(type='SyncBuffersHook'),
    dict(type='AnnotationCheckHook'),
    dict(type='StrictCheckpointHook'),
    dict(type='IterationSeedHook')
]
log_processor = dict(by_epoch=True)
randomness = dict(seed=0)
