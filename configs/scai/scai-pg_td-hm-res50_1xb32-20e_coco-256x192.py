# SCAI stage 1: train the prediction (Φ) and feedback (Γ) networks on MMPose's
# frozen SimpleBaseline ResNet-50 (td-hm_res50, COCO 256x192, AP 71.8 in
# MMPose's model zoo). Φ and Γ train on alternating iterations with Adam lr
# 1e-3, ×0.97 per epoch, batch 32 (the paper's recipe; the epochs, 20, are
# ours, and the widths and other choices the paper leaves open are listed in
# projects/scai/README.md).
# Everything else — data, pipelines, evaluation — is MMPose's td-hm_res50
# config, whose `model` becomes the wrapped `base_model`. Next:
# scai-c_td-hm-res50_1xb64-20e_coco-256x192.py (the correction network).
_base_ = [
    'mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_res50_8xb64-210e_'
    'coco-256x192.py'
]

custom_imports = dict(imports=['mmpose_ext'], allow_failed_imports=False)

base_checkpoint = (
    'https://download.openmmlab.com/mmpose/v1/body_2d_keypoint/topdown_'
    'heatmap/coco/'
    'td-hm_res50_8xb64-210e_coco-256x192-04af38ce_20220923.pth')

model = dict(
    _delete_=True,
    type='SCAIPoseEstimator',
    base_model={{_base_.model}},
    base_checkpoint=base_checkpoint,
    # six 4-node chains from a virtual neck (mid-shoulders); corrects wrists,
    # ankles, ears
    chains='coco',
    phi=dict(
        type='SCAIPredictionNet',
        num_layers=13,
        width=64,
        feat_proj_channels=32),
    gamma=dict(
        type='SCAIFeedbackNet', num_layers=13, width=64,
        feat_proj_channels=32),
    correction=dict(type='SCAICorrectionNet', num_layers=7, width=64),
    feature_source='head',
    heatmap_loss=dict(type='SCAIHeatmapLoss', norm='mse'),
    correction_loss=dict(
        type='SCAICorrectionLoss', a=0.85, b=0.65, lam=0.45, norm='mse'),
    train_cfg=dict(
        stage='phi_gamma', alternate=True, gamma_distal_input='phi'),
    test_cfg=dict(
        adapt=dict(
            enable=False, steps=20, lr=0.013, decay=0.96, optimizer='adam')))

train_cfg = dict(max_epochs=20, val_interval=5)
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3))
param_scheduler = [
    dict(type='ExponentialLR', gamma=0.97, by_epoch=True, begin=0, end=20)
]
auto_scale_lr = dict(base_batch_size=32)
train_dataloader = dict(batch_size=32)
# Under DDP one of Φ / Γ has no gradient in each (alternating) step: DDP must
# look for unused parameters and leave their gradients undefined, so that Adam
# skips them as in single-process training (an exact-zero gradient would let
# Adam's momentum move them; see SCAIPoseEstimator's docstring).
# MMEngine's switch for the DDP wrapper its Runner builds
find_unused_parameters = True
# Another model's checkpoint (load_from, --resume, MMPose's tools/test.py
# CHECKPOINT) is an error listing the keys, not a warning and AP 0
# (mmpose_ext.checkpoint). A default hook, as MMPose's `visualization`, so a
# config that replaces custom_hooks keeps it.
default_hooks = dict(strict_checkpoint=dict(type='StrictCheckpointHook'))
