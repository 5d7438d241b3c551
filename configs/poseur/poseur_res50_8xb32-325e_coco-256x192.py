# Poseur (ECCV 2022), ResNet-50, COCO 256x192 — the official recipe on MMPose 1.x.
# Data, pipeline, codec (RegressionLabel), flip test and CocoMetric('bbox_rle') come from MMPose's RLE
# config; what differs is the model (4-level ChannelMapper neck + PoseurHead with EMSDA) and the
# official optimisation: AdamW lr 1e-3 wd 1e-4, lr x0.1 on the sampling offsets, 500-iter warm-up,
# 325 epochs with steps at 255 and 310, fp16, batch 32 x 8 GPUs.
_base_ = ['mmpose::body_2d_keypoint/topdown_regression/coco/'
          'td-reg_res50_rle-8xb64-210e_coco-256x192.py']

custom_imports = dict(imports=['mmpose_ext'], allow_failed_imports=False)

train_cfg = dict(max_epochs=325, val_interval=10)

optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(_delete_=True, type='AdamW', lr=1e-3, weight_decay=1e-4),
    # official custom_keys; 'reference_points' matches no parameter in the two-stage model, as there
    paramwise_cfg=dict(custom_keys={
        'sampling_offsets': dict(lr_mult=0.1),
        'reference_points': dict(lr_mult=0.1),
    }))

param_scheduler = [
    dict(type='LinearLR', begin=0, end=500, start_factor=0.001, by_epoch=False),  # warm-up
    dict(type='MultiStepLR', begin=0, end=325, milestones=[255, 310], gamma=0.1, by_epoch=True),
]

auto_scale_lr = dict(base_batch_size=256)

codec = dict(type='RegressionLabel', input_size=(192, 256))

model = dict(
    backbone=dict(out_indices=(0, 1, 2, 3)),
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
        metainfo=dict(from_file='configs/_base_/datasets/coco.py'),  # K = 17 from the dataset
        num_levels=4,
        embed_dims=256,
        num_heads=8,
        num_points=4,
        num_decoder_layers=6,
        feedforward_channels=1024,
        dropout=0.1,
        noise_cfg=dict(num_groups=3, num_noisy_points=4, noise_cov=0.2, offset_clip=1.0,
                       point_range=(-0.7, 1.7), mode='official'),
        loss_coarse=dict(type='RLEFlowLoss', use_target_weight=True, sigma_activation=None,
                         prior_mean=0.5, q_distribution='poseur'),
        loss_decoder=dict(type='RLEFlowLoss', use_target_weight=True, sigma_activation=None,
                          prior_mean=0.5, q_distribution='poseur'),
        score_cfg=dict(radius=0.2, weight=0.7),
        flip_fusion='laplace',
        decoder=codec),
    test_cfg=dict(flip_test=True, shift_coords=True))

train_dataloader = dict(batch_size=32)

# Per-rank seeds (MMEngine adds the rank to the seed): Poseur draws its noisy reference groups from torch's
# global RNG, so with one seed every GPU would draw the same noise and its diversity would not grow with
# the number of GPUs. Data shuffling stays consistent (the sampler then uses a seed synced from rank 0).
randomness = dict(seed=None, diff_rank_seed=True)
# MMPose's SyncBuffersHook (default_runtime), and torch seeded from (seed, iteration) before every iteration
# so that --resume continues exactly as an uninterrupted run would (MMEngine's checkpoints hold no torch RNG
# state; Poseur's dropout and noisy groups draw from it). With diff_rank_seed the seed includes the rank.
custom_hooks = [dict(type='SyncBuffersHook'), dict(type='IterationSeedHook')]
