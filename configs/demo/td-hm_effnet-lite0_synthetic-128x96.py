# The README's main job: MMPose's heatmap head on the ImageNet
# EfficientNet-Lite0 (the shared synthetic setting,
# ../synthetic/td-hm_effnet-lite0_synthetic-128x96.py, unchanged) fine-tuned on
# generated people that the demo makes on first run
# (mmpose_ext.datasets.synthetic; `synthetic` gives their number and seed),
# then tested on held-out generated people and on the real COCO people in
# data/fixtures. A CPU-scale schedule: 3 epochs of 2000 generated images (about
# 480 iterations at batch 32, 4-5 minutes on 2 cores).
_base_ = ['../synthetic/td-hm_effnet-lite0_synthetic-128x96.py']

# generated under the working directory, as the synthetic configs' data
data_root = 'data/synthetic-demo/'
# read by mmpose_ext.tools.demo
synthetic = dict(num_train=2000, num_val=100, seed=0, layout='coco')
max_epochs = 3

train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
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
train_dataloader = dict(dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
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
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1),
    logger=dict(interval=20))
