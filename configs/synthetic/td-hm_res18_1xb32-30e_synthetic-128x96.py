# MMPose's heatmap SimpleBaseline (ResNet + 3 deconvolutions + MSRA heatmaps) on the synthetic figures of
# mmpose_ext.datasets.synthetic: the small shared benchmark setting -- ResNet-18 from scratch (init_cfg=None),
# 128x96 input, batch 32, Adam 1e-3 with cosine decay. Evaluation uses the ground-truth boxes of the held-out
# split. `data_root` is where `python -m mmpose_ext.tools.make_synthetic --out data/synthetic` writes; the
# benchmark tool (mmpose_ext.tools.benchmark) points every dataset at its own generated folder.
_base_ = ['mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_res50_8xb64-210e_coco-256x192.py']

custom_imports = dict(imports=['mmpose_ext'], allow_failed_imports=False)

data_root = 'data/synthetic/'
max_epochs = 30

train_cfg = dict(max_epochs=max_epochs, val_interval=10)
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', begin=0, end=200, start_factor=0.01, by_epoch=False),
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=1e-5, begin=0, end=max_epochs, by_epoch=True),
]
auto_scale_lr = dict(enable=False, base_batch_size=32)

codec = dict(type='MSRAHeatmap', input_size=(96, 128), heatmap_size=(24, 32), sigma=2)
model = dict(
    backbone=dict(depth=18, init_cfg=None),
    head=dict(in_channels=512, decoder=codec))

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    # mild augmentation, the same in every synthetic config: at CPU-scale budgets (hundreds of iterations)
    # MMPose's COCO-scale half-body crops and ±80° rotations keep from-scratch models at the mean pose
    dict(type='RandomBBoxTransform', shift_factor=0.05, scale_factor=(0.8, 1.2), rotate_factor=15),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs'),
]
val_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='PackPoseInputs'),
]
train_dataloader = dict(
    batch_size=32, num_workers=2, persistent_workers=False,
    dataset=dict(data_root=data_root, ann_file='annotations/person_keypoints_train.json',
                 data_prefix=dict(img='train/'), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=32, num_workers=2, persistent_workers=False,
    dataset=dict(data_root=data_root, ann_file='annotations/person_keypoints_val.json', bbox_file=None,
                 data_prefix=dict(img='val/'), pipeline=val_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/person_keypoints_val.json')
test_evaluator = val_evaluator
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=1))
randomness = dict(seed=0)
