# The frozen model for SCAI's bundled evidence run (python -m
# mmpose_ext.tools.scai_evidence): MMPose's SimpleBaseline heatmap recipe
# (td-hm_res50 COCO config) shrunk for a CPU: the first three stages of a
# ResNet-18 (stride 16, no pretrained weights), two deconvolutions, 64x48 input
# (16x12 heatmaps), trained from scratch on the few real COCO images in
# data/fixtures and evaluated on the same images with GT boxes. A smoke-scale
# run, not a benchmark.
_base_ = [
    'mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_res50_8xb64-210e_'
    'coco-256x192.py'
]

custom_imports = dict(imports=['mmpose_ext'], allow_failed_imports=False)

data_root = '{{ fileDirname }}/../../data/fixtures/coco/'
ann_file = data_root + 'test_coco.json'

codec = dict(
    type='MSRAHeatmap', input_size=(48, 64), heatmap_size=(12, 16), sigma=1)

model = dict(
    backbone=dict(
        depth=18,
        num_stages=3,
        strides=(1, 2, 2),
        dilations=(1, 1, 1),
        out_indices=(2, ),
        init_cfg=None),
    head=dict(
        in_channels=256,
        deconv_out_channels=(128, 128),
        deconv_kernel_sizes=(4, 4),
        decoder=codec))

train_cfg = dict(max_epochs=300, val_interval=300)
optim_wrapper = dict(optimizer=dict(lr=2e-3))
param_scheduler = [
    dict(type='LinearLR', begin=0, end=20, start_factor=0.01, by_epoch=False),
    dict(
        type='CosineAnnealingLR',
        T_max=300,
        eta_min=1e-5,
        by_epoch=True,
        begin=0,
        end=300),
]
auto_scale_lr = dict(enable=False)

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(
        type='RandomBBoxTransform',
        shift_factor=0.05,
        scale_factor=(0.9, 1.1),
        rotate_factor=10),
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
        data_prefix=dict(img=data_root),
        pipeline=val_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=ann_file)
test_evaluator = val_evaluator

# Another model's checkpoint (load_from, --resume, MMPose's tools/test.py
# CHECKPOINT) is an error listing the keys, not a warning and AP 0
# (mmpose_ext.checkpoint). A default hook, as MMPose's `visualization`, so a
# config that replaces custom_hooks keeps it.
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=300, save_best=None, max_keep_ckpts=1),
    strict_checkpoint=dict(type='StrictCheckpointHook'))
randomness = dict(seed=0)
