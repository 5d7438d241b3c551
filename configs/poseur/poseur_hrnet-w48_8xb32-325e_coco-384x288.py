# Poseur, HRNet-W48, COCO 384x288: the paper's best model (COCO val AP 78.7 in
# the official README), after
# aim-uofa/Poseur configs/poseur/coco/poseur_hrnet_w48_coco_384x288.py: the
# HRNet-W32 recipe with the W48
# backbone (48-384 channels, ImageNet weights), a 384x288 input, and
# photometric distortion and cutout after
# the affine crop. What differs from that file:
#   - PhotometricDistortion is MMPose's (same ranges: brightness +-32, contrast
#     and saturation 0.5-1.5, hue
#     +-18); it also swaps the colour channels with p 0.5, where the official
#     transform's channel swap is a
#     no-op (its result is discarded);
#   - the cutout is ours (EllipseCutout), written from the official Cutout's
#     description: one zero-filled
#     ellipse, prob 1.0, semi-axes 0.2 * (1 + U(0, 1)) * crop width;
#   - the official file keeps image_size [192, 256] in its train_cfg/test_cfg
#     (used by its flip-back shift);
#     here every size is 288x384.
_base_ = ['./poseur_hrnet-w32_8xb32-325e_coco-256x192.py']

codec = dict(type='RegressionLabel', input_size=(288, 384))

model = dict(
    backbone=dict(
        extra=dict(
            stage2=dict(num_channels=(48, 96)),
            stage3=dict(num_channels=(48, 96, 192)),
            stage4=dict(num_channels=(48, 96, 192, 384))),
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmpose/pretrain_models/'
            'hrnet_w48-8ef0771d.pth')),
    neck=dict(in_channels=[48, 96, 192, 384]),
    head=dict(decoder=codec))

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='RandomHalfBody'),
    # the official scale/rotation (see the ResNet-50 config)
    dict(
        type='ClippedNormalBBoxTransform',
        scale_sigma=0.5,
        rotate_sigma=40.,
        rotate_prob=0.6,
        shift_prob=0.),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='PhotometricDistortion'),
    dict(type='EllipseCutout', prob=1.0, radius_factor=0.2, num_patches=1),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs')
]
val_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='PackPoseInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader
