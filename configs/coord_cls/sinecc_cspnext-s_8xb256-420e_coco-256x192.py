# SineCoordClsHead (sine-encoded bins, RTMO's MLE loss, σ-based scores) on
# RTMPose-s: MMPose's CSPNeXt-s backbone and RTMPose-s COCO 256x192 recipe (420
# epochs, two augmentation stages). The head replaces RTMCCHead with RTMCC's
# layout (7x7 final conv, each keypoint's map through a shared ScaleNorm +
# Linear, a GAU; 128 channels instead of 256), sine-coded bins instead of the
# free classifiers, logits x 1/sqrt(C) and the GAU started near its shortcut
# (docs/coord_cls.md: MMPose's GAU start saturates the softmax). The codec
# becomes RegressionLabel, so both stages' pipelines are restated with it.
_base_ = [
    'mmpose::body_2d_keypoint/rtmpose/coco/rtmpose-s_8xb256-420e_coco-'
    '256x192.py'
]

custom_imports = dict(imports=['mmpose_ext'], allow_failed_imports=False)

codec = dict(type='RegressionLabel', input_size=(192, 256))

model = dict(
    head=dict(
        _delete_=True,
        type='SineCoordClsHead',
        in_channels=512,
        # K = 17 from the dataset
        metainfo=dict(from_file='configs/_base_/datasets/coco.py'),
        input_size=codec['input_size'],
        in_featuremap_size=tuple([s // 32 for s in codec['input_size']]),
        simcc_split_ratio=2.0,
        final_layer_kernel_size=7,
        feat_channels=128,
        spe_channels=128,
        spe_temperature=300.0,
        input_mode='keypoint',
        logit_scale='rsqrt',
        gau_init='near_identity',
        gau_cfg=dict(
            s=128,
            expansion_factor=2,
            dropout_rate=0.0,
            drop_path=0.0,
            act_fn='SiLU',
            pos_enc='add'),
        loss=dict(type='CoordMLELoss'),
        scorer=dict(type='LaplaceIntegralScorer', radius=0.1)))

backend_args = dict(backend='local')
max_epochs, stage2_num_epochs = 420, 30  # as the base


def _pipeline(scale_factor, rotate_factor, shift_factor, dropout_p):
    return [
        dict(type='LoadImage', backend_args=backend_args),
        dict(type='GetBBoxCenterScale'),
        dict(type='RandomFlip', direction='horizontal'),
        dict(type='RandomHalfBody'),
        dict(
            type='RandomBBoxTransform',
            shift_factor=shift_factor,
            scale_factor=scale_factor,
            rotate_factor=rotate_factor),
        dict(type='TopdownAffine', input_size=codec['input_size']),
        dict(type='mmdet.YOLOXHSVRandomAug'),
        dict(
            type='Albumentation',
            transforms=[
                dict(type='Blur', p=0.1),
                dict(type='MedianBlur', p=0.1),
                dict(
                    type='CoarseDropout',
                    max_holes=1,
                    max_height=0.4,
                    max_width=0.4,
                    min_holes=1,
                    min_height=0.2,
                    min_width=0.2,
                    p=dropout_p),
            ]),
        dict(type='GenerateTarget', encoder=codec),
        dict(type='PackPoseInputs'),
    ]


# RTMPose-s's two stages, as in the base (RandomBBoxTransform's default
# shift_factor is 0.16)
train_pipeline = _pipeline([0.6, 1.4], 80, 0.16, 1.0)
train_pipeline_stage2 = _pipeline([0.75, 1.25], 60, 0.0, 0.5)
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
custom_hooks = [
    dict(
        type='EMAHook',
        ema_type='ExpMomentumEMA',
        momentum=0.0002,
        update_buffers=True,
        priority=49),
    dict(
        type='mmdet.PipelineSwitchHook',
        switch_epoch=max_epochs - stage2_num_epochs,
        switch_pipeline=train_pipeline_stage2),
]
# Another model's checkpoint (load_from, --resume, MMPose's tools/test.py
# CHECKPOINT) is an error listing the keys, not a warning and AP 0
# (mmpose_ext.checkpoint). A default hook, as MMPose's `visualization`, so a
# config that replaces custom_hooks keeps it.
default_hooks = dict(strict_checkpoint=dict(type='StrictCheckpointHook'))
