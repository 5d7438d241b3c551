# MMPose's RLE (global pooling + RLEHead with RLELoss, score 1 - mean sigma) on
# the shared synthetic setting (_base_/effnet-lite0_synthetic-128x96.py): the
# pooled 320-channel last stage of Lite0.
_base_ = ['./_base_/effnet-lite0_synthetic-128x96.py']

codec = dict(type='RegressionLabel', input_size={{_base_.input_size}})
model = dict(
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='RLEHead',
        in_channels=320,
        num_joints=17,
        loss=dict(type='RLELoss', use_target_weight=True),
        decoder=codec),
    test_cfg=dict(flip_test=True, shift_coords=True))

# Augmentation as every synthetic config (see
# td-hm_effnet-lite0_synthetic-128x96.py).
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(
        type='RandomBBoxTransform',
        shift_factor=0.1,
        scale_factor=(0.75, 1.25),
        rotate_factor=30),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='PhotometricDistortion'),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
