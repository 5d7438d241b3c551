# MMPose's heatmap SimpleBaseline head (deconvolutions + MSRA heatmaps + MSE)
# on the shared synthetic setting (_base_/effnet-lite0_synthetic-128x96.py:
# ImageNet EfficientNet-Lite0, 128x96, batch 32, AdamW 2e-3). At 128x96 Lite0's
# last stage is a 4x3 map: the head reads it upsampled and concatenated to
# stage 4 (MMPose's FeatureMapProcessor: 112 + 320 channels at stride 16, 8x6)
# and brings that to stride 4 with two 4x4 deconvolutions of 128 channels,
# instead of SimpleBaseline's three 256-wide ones on the stride-32 map
# (measured at a 5-minute budget: held-out PCK@0.1 0.51 from the 4x3 map, 0.57
# from 8x6).
_base_ = ['./_base_/effnet-lite0_synthetic-128x96.py']

codec = dict(
    type='MSRAHeatmap',
    input_size={{_base_.input_size}},
    heatmap_size=(24, 32),
    sigma=2)
model = dict(
    backbone=dict(out_indices=(4, 6)),
    # both at stride 16: (B, 432, 8, 6)
    neck=dict(type='FeatureMapProcessor', concat=True),
    head=dict(
        type='HeatmapHead',
        in_channels=432,
        out_channels=17,
        deconv_out_channels=(128, 128),
        deconv_kernel_sizes=(4, 4),
        loss=dict(type='KeypointMSELoss', use_target_weight=True),
        decoder=codec),
    test_cfg=dict(flip_mode='heatmap', shift_heatmap=True))

# The augmentation every synthetic config shares: flips, ±30° rotation,
# 0.75-1.25 scale, 10 % shift -- milder than MMPose's COCO recipe (no half-body
# crops, ±80°), which keeps models at the mean pose for the few thousand
# iterations a CPU affords -- and MMPose's PhotometricDistortion, so that the
# generated figures' colours are no cue (it also helps on real photographs).
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
