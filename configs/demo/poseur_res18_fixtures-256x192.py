# The bundled demo with Poseur: trained from scratch on the few real COCO
# images in data/fixtures (a smoke-scale run on CPU, not a benchmark). Inherits
# our COCO Poseur config and overrides only what a CPU demo on 12 people needs:
# a ResNet-18 without pretrained weights, a 128-d head with 3 decoder layers
# (the paper's small variant), fp32, the data paths, a short schedule and
# evaluation on the same images.
_base_ = ['../poseur/poseur_res50_8xb32-325e_coco-256x192.py']

data_root = '{{ fileDirname }}/../../data/fixtures/coco/'
ann_file = data_root + 'test_coco.json'

train_cfg = dict(max_epochs=150, val_interval=150)
# fp32 on CPU: a plain OptimWrapper with the recipe's AdamW and lr multipliers
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-3, weight_decay=1e-4),
    paramwise_cfg={{_base_.optim_wrapper.paramwise_cfg}})
param_scheduler = [
    dict(type='LinearLR', begin=0, end=10, start_factor=0.01, by_epoch=False),
    dict(
        type='CosineAnnealingLR',
        T_max=150,
        eta_min=1e-5,
        by_epoch=True,
        begin=0,
        end=150),
]
auto_scale_lr = dict(enable=False)

model = dict(
    backbone=dict(depth=18, init_cfg=None),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=128),
    head=dict(
        in_channels=128,
        embed_dims=128,
        num_decoder_layers=3,
        feedforward_channels=512))

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(
        type='RandomBBoxTransform',
        shift_factor=0.05,
        scale_factor=(0.9, 1.1),
        rotate_factor=10),
    dict(type='TopdownAffine', input_size=(192, 256)),
    dict(type='GenerateTarget', encoder={{_base_.codec}}),
    dict(type='PackPoseInputs'),
]

train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root='',
        ann_file=ann_file,
        data_prefix=dict(img=data_root),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root='',
        ann_file=ann_file,
        bbox_file=None,
        data_prefix=dict(img=data_root)))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=ann_file)
test_evaluator = val_evaluator

default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=150, save_best=None, max_keep_ckpts=1))
# Per-rank seeds (MMEngine adds the rank to the seed): Poseur draws its noisy
# reference groups from torch's global RNG, so with one seed every GPU would
# draw the same noise and its diversity would not grow with the number of GPUs.
# Data shuffling stays consistent (the sampler then uses a seed synced from
# rank 0).
randomness = dict(seed=0, diff_rank_seed=True)
