# The bundled demo: RLE regression with RLEFlowLoss + Laplace-integral scores,
# trained from scratch on the few real COCO images in data/fixtures (a
# smoke-scale run on CPU, not a benchmark). Inherits our COCO RLE config and
# overrides only what a CPU demo on 14 instances needs: a ResNet-18 with no
# pretrained weights, the data paths, a short schedule and the evaluation on
# the same images (GT boxes).
_base_ = ['../rle/td-reg_res50_rle-flow-laplace-8xb64-210e_coco-256x192.py']

data_root = '{{ fileDirname }}/../../data/fixtures/coco/'
ann_file = data_root + 'test_coco.json'

train_cfg = dict(max_epochs=240, val_interval=240)
optim_wrapper = dict(optimizer=dict(lr=2e-3))
param_scheduler = [
    dict(type='LinearLR', begin=0, end=10, start_factor=0.01, by_epoch=False),
    dict(
        type='CosineAnnealingLR',
        T_max=240,
        eta_min=1e-5,
        by_epoch=True,
        begin=0,
        end=240),
]
auto_scale_lr = dict(enable=False)

model = dict(
    backbone=dict(depth=18, init_cfg=None), head=dict(in_channels=512))

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
    checkpoint=dict(interval=240, save_best=None, max_keep_ckpts=1))
randomness = dict(seed=0)
