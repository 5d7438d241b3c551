# MMPose's SimCC head (1-D x/y classification, KL loss) on the shared synthetic
# setting (_base_/effnet-lite0_synthetic-128x96.py). It reads the features the
# heatmap config reads (Lite0's stages 4 and 6 concatenated at stride 16: 432
# channels, 8x6 at 128x96) without deconvolutions, as MMPose's SimCC-ResNet
# recipe; sigma is halved with the input (6 at 256x192 -> 3).
_base_ = ['./_base_/effnet-lite0_synthetic-128x96.py']

codec = dict(
    type='SimCCLabel',
    input_size={{_base_.input_size}},
    sigma=3.0,
    simcc_split_ratio=2.0)
model = dict(
    backbone=dict(out_indices=(4, 6)),
    neck=dict(type='FeatureMapProcessor', concat=True),  # (B, 432, 8, 6)
    head=dict(
        type='SimCCHead',
        in_channels=432,
        out_channels=17,
        input_size=codec['input_size'],
        in_featuremap_size=(6, 8),
        simcc_split_ratio=codec['simcc_split_ratio'],
        deconv_out_channels=None,
        loss=dict(type='KLDiscretLoss', use_target_weight=True),
        decoder=codec))

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
