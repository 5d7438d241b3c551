# TokenPose-S-v1 (Li et al., ICCV 2021) at COCO 256x192, the official recipe of
# leeyegy/TokenPose
# experiments/coco/tokenpose/tokenpose_s_v1_256_192_patch43_dim192_depth12_heads8.yaml
# as far as MMPose 1.x
# allows (what still differs is listed below and in
# projects/tokenpose/README.md):
# small stem (2 stride-2 convs + 4 bottlenecks, 256 ch at 1/4, from scratch),
# 4x3 patches of the 64x48 map
# (256 visual tokens), 17 keypoint tokens, 12 layers x 8 heads, D=192, MLP
# ratio 3, sine position
# embedding before every layer ('sine-full'), Adam lr 1e-3 (no weight decay),
# 300 epochs, lr x0.1 at 200
# and 260, NO warm-up, 4 GPUs x 32. This file carries the recipe for every
# TokenPose COCO config here.
#
# Data (the official JointsDataset, DarkPose's): flip 0.5, half body (>8
# visible keypoints, p 0.3, box x1.5),
# scale s * clip(randn * 0.35 + 1, 0.65, 1.35), rotation clip(randn * 45, -90,
# 90) with p 0.6, no shift;
# DarkPose's unbiased Gaussian targets (sigma 2) and DARK decoding (blur 11)
# with flip test without the
# one-pixel heatmap shift; loss 0.5 x MSE (JointsMSELoss). Everything else
# (detected boxes
# COCO_val2017_detections_AP_H_56_person.json, CocoMetric with OKS-NMS 0.9 /
# keypoint score 0.2,
# ImageNet normalisation, RGB) is inherited from MMPose's HRNet-W32 config and
# matches the official one.
#
# Augmentation: the official scale and rotation are a normal CLIPPED at +-1
# sigma (scale) and +-2 sigma (rotation), drawn here by
# ClippedNormalBBoxTransform with the official factors (sf 0.35, rf 45): 31.7%
# of the scales sit exactly on 0.65 / 1.35, P(|rotation| > 45) = 0.19. MMPose's
# RandomBBoxTransform would draw a normal TRUNCATED to the same support (no
# atoms, P(|rotation| > 45) = 0.26). Rotation probability 0.6 and no shift are
# exact; what still differs: MMPose's half body prefers the upper body with p
# 0.7 where the official code uses randn < 0.5 (p 0.69).
_base_ = [
    'mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w32_8xb64-'
    '210e_coco-256x192.py'
]

custom_imports = dict(imports=['mmpose_ext'], allow_failed_imports=False)

train_cfg = dict(max_epochs=300, val_interval=10)
# HRNet's get_optimizer: Adam, no weight decay
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3))
# no warm-up: the official tools/train.py has only MultiStepLR, stepped per
# epoch
param_scheduler = [
    dict(
        type='MultiStepLR',
        begin=0,
        end=300,
        milestones=[200, 260],
        gamma=0.1,
        by_epoch=True),
]
auto_scale_lr = dict(base_batch_size=128)

# DarkPose's targets (unbiased: the Gaussian centred on the sub-pixel keypoint)
# and DARK decoding
codec = dict(
    type='MSRAHeatmap',
    input_size=(192, 256),
    heatmap_size=(48, 64),
    sigma=2,
    unbiased=True,
    blur_kernel_size=11)

model = dict(
    backbone=dict(
        _delete_=True,
        type='TokenPoseStem',
        in_channels=3,
        stem_channels=64,
        out_channels=256,
        num_blocks=4),
    head=dict(
        _delete_=True,
        type='TokenPoseHead',
        in_channels=256,
        # K = 17 from the dataset
        metainfo=dict(from_file='configs/_base_/datasets/coco.py'),
        patch_size=(4, 3),
        embed_dims=192,
        depth=12,
        num_heads=8,
        mlp_ratio=3,
        # the official TokenPose-S code scales by dim**-0.5, not head_dim**-0.5
        qk_scale=192**-0.5,
        pos_every_layer=True,
        # ours, not the official code's: the heatmap MLP's last Linear starts
        # at N(0, 0.001^2), as MMPose's HeatmapHead (the official
        # truncated-normal 0.02 start collapses the heatmaps to one mean map
        # for hundreds of steps; output_init='official' restores it)
        output_init='small',
        # JointsMSELoss's 0.5
        loss=dict(
            type='KeypointMSELoss', use_target_weight=True, loss_weight=0.5),
        decoder=codec),
    # the official validate() averages the flipped heatmaps without shifting
    # them by a pixel
    test_cfg=dict(flip_test=True, flip_mode='heatmap', shift_heatmap=False))

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),  # padding 1.25, as the official _xywh2cs
    dict(type='RandomFlip', direction='horizontal'),  # p 0.5
    # >= 9 visible keypoints, p 0.3, padding 1.5: the official values
    dict(type='RandomHalfBody'),
    # official sf 0.35, rf 45 (clip +-1 sf, +-2 rf); see the header
    dict(
        type='ClippedNormalBBoxTransform',
        scale_sigma=0.35,
        rotate_sigma=45.,
        scale_prob=1.,
        rotate_prob=0.6,
        shift_prob=0.),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs'),
]
train_dataloader = dict(batch_size=32, dataset=dict(pipeline=train_pipeline))
# Another model's checkpoint (load_from, --resume, MMPose's tools/test.py
# CHECKPOINT) is an error listing the keys, not a warning and AP 0
# (mmpose_ext.checkpoint). A default hook, as MMPose's `visualization`, so a
# config that replaces custom_hooks keeps it.
default_hooks = dict(strict_checkpoint=dict(type='StrictCheckpointHook'))
