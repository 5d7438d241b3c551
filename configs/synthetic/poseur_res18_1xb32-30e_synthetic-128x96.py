# Ours: Poseur (ECCV 2022) in the shared synthetic benchmark setting. Data, pipeline, codec
# (RegressionLabel at 128x96), schedule and ResNet-18-from-scratch come from the RLE synthetic config this
# inherits; the model is our COCO Poseur (configs/poseur/poseur_res50_8xb32-325e_coco-256x192.py: 4-level
# ChannelMapper neck, PoseurHead with EMSDA, noisy reference points, per-layer RLE flow losses, Laplace
# scores) at the paper's head size (256-d, 6 decoder layers) on ResNet-18's channels, with the official
# AdamW and its 0.1 lr multiplier on the sampling offsets, in fp32.
_base_ = ['./td-reg_res18_rle-1xb32-30e_synthetic-128x96.py']

optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=1e-3, weight_decay=1e-4),
    paramwise_cfg=dict(custom_keys={'sampling_offsets': dict(lr_mult=0.1)}))

model = dict(
    backbone=dict(out_indices=(0, 1, 2, 3)),
    neck=dict(
        _delete_=True,
        type='ChannelMapper',
        in_channels=[64, 128, 256, 512],
        kernel_size=1,
        out_channels=256,
        act_cfg=None,
        norm_cfg=dict(type='GN', num_groups=32)),
    head=dict(
        _delete_=True,
        type='PoseurHead',
        in_channels=256,
        metainfo=dict(from_file='configs/_base_/datasets/coco.py'),  # K from the dataset's metainfo
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
        decoder={{_base_.codec}}),
    test_cfg=dict(flip_test=True, shift_coords=True))
