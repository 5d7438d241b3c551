# TokenPose-L/D24 (Li et al., ICCV 2021; paper: COCO val 75.8 AP) at COCO
# 256x192: official leeyegy/TokenPose
# experiments/coco/tokenpose/tokenpose_L_D24_256_192_patch43_dim192_depth24_heads12.yaml
# and lib/models/pose_tokenpose_l.py + tokenpose_base.py (TokenPose_L_base).
# HRNet-W48 truncated after stage 3 (ImageNet-pretrained hrnet_w48), its
# 48-channel 1/4-resolution branch (the only one the official HRNET_base
# returns) cut into 4x3 patches (256 visual tokens of 48*12 = 576 values) ->
# Linear -> D=192; 17 keypoint tokens; THREE transformers of 8 layers (12
# heads, head_dim 16, head_dim**-0.5 scale, MLP ratio 3) chained on the whole
# token sequence, 'sine-full' position embedding (before 22 of the 24 layers,
# as the official code); the keypoint tokens output by each of the three are
# concatenated (B, 17, 576) -> LN -> Linear(576, 64*48) (TokenPoseLHead). Adam
# lr 1e-3, 300 epochs, steps 200/260, no warm-up, 4 GPUs x 16; augmentation,
# DARK codec, flip test and what still differs in them: S-v1's header.
# Model differences: MMPose's HRNet keeps the fuse layers of the last stage-3
# module into branches 1-2 (0.34 M parameters and their FLOPs reach no output;
# the official stage 3 ends with multi_scale_output=False): hence
# find_unused_parameters=True for DDP. Otherwise as every TokenPose here. The
# backbone is TokenPose-B's (HRNet truncated after stage 3, FeatureMapProcessor
# on branch 1) at W48 widths.
_base_ = ['./tokenpose-b_hrnet-w32-stage3_4xb32-300e_coco-256x192.py']

model = dict(
    backbone=dict(
        extra=dict(
            stage2=dict(num_channels=(48, 96)),
            stage3=dict(num_channels=(48, 96, 192)),
            # 0 modules: stage 3's branches (see the B config)
            stage4=dict(num_channels=(48, 96, 192))),
        init_cfg=dict(
            checkpoint=
            'https://download.openmmlab.com/mmpose/pretrain_models/hrnet_'
            'w48-8ef0771d.pth')),
    # everything not set here (patch 4x3, D=192, MLP ratio 3, 'sine-full',
    # loss, codec, K) is S-v1's
    head=dict(
        type='TokenPoseLHead',
        in_channels=48,
        depth=(8, 8, 8),
        num_heads=12,
        # official TokenPose_L_base: scale_with_head=True (as B)
        qk_scale=None))

train_dataloader = dict(batch_size=16)
auto_scale_lr = dict(base_batch_size=64)
# find_unused_parameters = True comes from B: the dead stage-3 fuse layers
# above
