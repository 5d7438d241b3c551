# TokenPose-S-v1 (Li et al., ICCV 2021) at COCO 256x192, following the official recipe
# (leeyegy/TokenPose experiments/coco/tokenpose/tokenpose_s_v1_256_192_patch43_dim192_depth12_heads8.yaml):
# small stem (2 stride-2 convs + 4 bottlenecks, 256 ch at 1/4, from scratch), 4x3 patches of the 64x48 map
# (256 visual tokens), 17 keypoint tokens, 12 layers x 8 heads, D=192, MLP ratio 3, sine position
# embedding before every layer ('sine-full'), Adam lr 1e-3, 300 epochs, lr x0.1 at 200 and 260,
# 4 GPUs x 32. Data pipeline, codec (MSRAHeatmap sigma 2), flip test and evaluation are MMPose's
# HRNet-W32 config, which this inherits.
_base_ = ['mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w32_8xb64-210e_coco-256x192.py']

custom_imports = dict(imports=['mmpose_ext'], allow_failed_imports=False)

train_cfg = dict(max_epochs=300, val_interval=10)
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', begin=0, end=500, start_factor=0.001, by_epoch=False),  # MMPose's warm-up
    dict(type='MultiStepLR', begin=0, end=300, milestones=[200, 260], gamma=0.1, by_epoch=True),
]
auto_scale_lr = dict(base_batch_size=128)

codec = dict(type='MSRAHeatmap', input_size=(192, 256), heatmap_size=(48, 64), sigma=2)

model = dict(
    backbone=dict(_delete_=True, type='TokenPoseStem', in_channels=3, stem_channels=64, out_channels=256,
                  num_blocks=4),
    head=dict(
        _delete_=True,
        type='TokenPoseHead',
        in_channels=256,
        metainfo=dict(from_file='configs/_base_/datasets/coco.py'),  # K = 17 from the dataset
        patch_size=(4, 3),
        embed_dims=192,
        depth=12,
        num_heads=8,
        mlp_ratio=3,
        qk_scale=192**-0.5,  # the official TokenPose-S code scales by dim**-0.5, not head_dim**-0.5
        pos_every_layer=True,
        loss=dict(type='KeypointMSELoss', use_target_weight=True),
        decoder=codec))

train_dataloader = dict(batch_size=32)
