# Poseur (ECCV 2022), ResNet-50, COCO 256x192: the official recipe
# (aim-uofa/Poseur
# configs/poseur/coco/poseur_res50_coco_256x192.py) on MMPose 1.x. Data, codec
# (RegressionLabel), flip test and
# CocoMetric('bbox_rle') come from MMPose's RLE config; what differs from it is
# the model (4-level
# ChannelMapper neck with GroupNorm + PoseurHead with EMSDA) and the official
# optimisation and data:
#   - AdamW lr 1e-3 wd 1e-4, lr x0.1 on the sampling offsets, no gradient
#     clipping, 500-iter linear warm-up,
#     325 epochs with steps at 255 and 310, fp16 (dynamic loss scale), batch 32
#     x 8 GPUs;
#   - SyncBN in the backbone (the official norm_cfg; MMEngine reverts it to BN
#     when not distributed);
#   - augmentation: flip 0.5, half body (p 0.3), scale s*clip(randn*0.5 + 1,
#     0.5, 1.5), rotation clip(randn*40, -80, 80) with p 0.6, NO random shift:
#     the official distribution (ClippedNormalBBoxTransform with the official
#     scale factor 0.5 and rotation factor 40), not MMPose's
#     RandomBBoxTransform, whose normal truncated to the same support puts no
#     mass on the bounds and spreads the rotation wider;
#   - the head as the official code runs it: RLE losses divided by every
#     keypoint slot (B*K coarse, B*4*K per decoder layer), the initialisation
#     the official code starts from (init_scheme='official'), the decoder in
#     float32 under fp16, scores
#     1 - mean(sigma), and the official post_process='default' flip fusion
#     (coordinates and RLE scores
#     averaged). flip_fusion='laplace' is the paper's Laplace-weighted (type2)
#     fusion.
# Every remaining difference from the official code: projects/poseur/README.md.
_base_ = [
    'mmpose::body_2d_keypoint/topdown_regression/coco/'
    'td-reg_res50_rle-8xb64-210e_coco-256x192.py'
]

custom_imports = dict(imports=['mmpose_ext'], allow_failed_imports=False)

train_cfg = dict(max_epochs=325, val_interval=10)

optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(_delete_=True, type='AdamW', lr=1e-3, weight_decay=1e-4),
    # official custom_keys; 'reference_points' matches no parameter in the
    # two-stage model, as there
    paramwise_cfg=dict(
        custom_keys={
            'sampling_offsets': dict(lr_mult=0.1),
            'reference_points': dict(lr_mult=0.1),
        }))

param_scheduler = [
    # warm-up
    dict(
        type='LinearLR', begin=0, end=500, start_factor=0.001, by_epoch=False),
    dict(
        type='MultiStepLR',
        begin=0,
        end=325,
        milestones=[255, 310],
        gamma=0.1,
        by_epoch=True),
]

auto_scale_lr = dict(base_batch_size=256)

codec = dict(type='RegressionLabel', input_size=(192, 256))

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),  # padding 1.25, as the official
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='RandomHalfBody'),
    # official scale_factor 0.5 and rot_factor 40 (MMPose 0.x
    # TopDownGetRandomScaleRotation): clipped at +-1 and +-2 sigma, no shift
    dict(
        type='ClippedNormalBBoxTransform',
        scale_sigma=0.5,
        rotate_sigma=40.,
        rotate_prob=0.6,
        shift_prob=0.),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs')
]
train_dataloader = dict(batch_size=32, dataset=dict(pipeline=train_pipeline))

model = dict(
    backbone=dict(
        out_indices=(0, 1, 2, 3),
        norm_cfg=dict(type='SyncBN', requires_grad=True)),
    neck=dict(
        _delete_=True,
        type='ChannelMapper',
        in_channels=[256, 512, 1024, 2048],
        kernel_size=1,
        out_channels=256,
        act_cfg=None,
        norm_cfg=dict(type='GN', num_groups=32)),
    head=dict(
        _delete_=True,
        type='PoseurHead',
        in_channels=256,
        # K = 17 from the dataset
        metainfo=dict(from_file='configs/_base_/datasets/coco.py'),
        num_levels=4,
        embed_dims=256,
        num_heads=8,
        num_points=4,
        num_decoder_layers=6,
        feedforward_channels=1024,
        dropout=0.1,
        noise_cfg=dict(
            num_groups=3,
            num_noisy_points=4,
            noise_cov=0.2,
            offset_clip=1.0,
            point_range=(-0.7, 1.7),
            mode='official'),
        loss_coarse=dict(
            type='RLEFlowLoss',
            use_target_weight=True,
            sigma_activation=None,
            prior_mean=0.5,
            q_distribution='poseur',
            normalize='keypoint'),
        loss_decoder=dict(
            type='RLEFlowLoss',
            use_target_weight=True,
            sigma_activation=None,
            prior_mean=0.5,
            q_distribution='poseur',
            normalize='keypoint'),
        init_scheme='official',
        fp32_decoder=True,
        score='rle',
        # the Laplace score of flip_fusion='laplace'
        score_cfg=dict(radius=0.2, weight=0.7),
        flip_fusion='default',
        decoder=codec),
    test_cfg=dict(flip_test=True, shift_coords=True))

# Per-rank seeds (MMEngine adds the rank to the seed): Poseur draws its noisy
# reference groups from torch's global RNG, so with one seed every GPU would
# draw the same noise and its diversity would not grow with the number of GPUs.
# Data shuffling stays consistent (the sampler then uses a seed synced from
# rank 0).
randomness = dict(seed=None, diff_rank_seed=True)
# MMPose's SyncBuffersHook (default_runtime), and torch seeded from (seed,
# iteration) before every iteration so that --resume continues exactly as an
# uninterrupted run would (MMEngine's checkpoints hold no torch RNG state;
# Poseur's dropout and noisy groups draw from it). With diff_rank_seed the seed
# includes the rank.
custom_hooks = [dict(type='SyncBuffersHook'), dict(type='IterationSeedHook')]
# Another model's checkpoint (load_from, --resume, MMPose's tools/test.py
# CHECKPOINT) is an error listing the keys, not a warning and AP 0
# (mmpose_ext.checkpoint). A default hook, as MMPose's `visualization`, so a
# config that replaces custom_hooks keeps it.
default_hooks = dict(strict_checkpoint=dict(type='StrictCheckpointHook'))
