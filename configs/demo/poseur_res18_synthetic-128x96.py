# The README's main job: Poseur (ResNet-18 from scratch, 128x96) trained on a small synthetic set that the
# demo generates on first run (mmpose_ext.datasets.synthetic; `synthetic` below gives its size and seed) and
# tested on its training images (does it fit?), on held-out generated images and on the real COCO images in
# data/fixtures. A CPU-scale run, not a benchmark: the model, the schedule and the optimiser follow the
# fixtures demo (poseur_res18_fixtures-256x192.py: 128-d head, 3 decoder layers, AdamW 2e-3, fp32); the data
# settings (pipeline, codec) are the synthetic benchmark's, which this inherits.
_base_ = ['../synthetic/poseur_res18_1xb32-30e_synthetic-128x96.py']

data_root = '{{ fileDirname }}/../../data/synthetic-demo/'
synthetic = dict(num_train=8, num_val=8, seed=0, layout='coco')  # read by mmpose_ext.tools.demo
max_epochs = 200

train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
optim_wrapper = dict(optimizer=dict(lr=2e-3))
param_scheduler = [
    dict(type='LinearLR', begin=0, end=20, start_factor=0.01, by_epoch=False),
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=1e-5, begin=0, end=max_epochs, by_epoch=True),
]

model = dict(
    neck=dict(out_channels=128),
    head=dict(in_channels=128, embed_dims=128, num_decoder_layers=3, feedforward_channels=512))

# Mild augmentation, as the fixtures demo: a few hundred iterations fit a handful of people only without
# MMPose's COCO-scale half-body crops and ±80° rotations.
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='RandomBBoxTransform', shift_factor=0.05, scale_factor=(0.9, 1.1), rotate_factor=10),
    dict(type='TopdownAffine', input_size={{_base_.codec.input_size}}),
    dict(type='GenerateTarget', encoder={{_base_.codec}}),
    dict(type='PackPoseInputs'),
]
train_dataloader = dict(batch_size=8, num_workers=0, dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(batch_size=16, num_workers=0, dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/person_keypoints_val.json')
test_evaluator = val_evaluator
default_hooks = dict(checkpoint=dict(interval=max_epochs, save_best=None), logger=dict(interval=10))
