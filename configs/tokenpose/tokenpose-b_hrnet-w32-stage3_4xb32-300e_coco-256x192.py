# TokenPose-B (Li et al., ICCV 2021) at COCO 256x192, following the official
# recipe
# (tokenpose_b_256_192_patch43_dim192_depth12_heads8.yaml): HRNet-W32 truncated
# after stage 3
# (ImageNet-pretrained), its 32-channel 1/4-resolution branch cut into 4x3
# patches, then the same
# transformer as TokenPose-S (12 layers x 8 heads, D=192, MLP ratio 3,
# 'sine-full'), with the standard
# head_dim**-0.5 attention scale (official TokenPose-B code). Adam lr 1e-3, 300
# epochs, steps 200/260, no
# warm-up; augmentation, DARK codec and flip test as S-v1, which carries the
# recipe and lists what still
# differs from the official code.
#
# MMPose's HRNet always has a stage 4: a stage 4 with 0 modules and stage 3's
# branches is an identity,
# so HRNet returns stage 3's three branches and FeatureMapProcessor picks the
# 32-channel one. Difference:
# MMPose's last stage-3 module also fuses into branches 1-2 (the official
# HRNET_base builds it with
# multi_scale_output=False): 0.15 M parameters and some FLOPs that reach no
# output. They get no gradient,
# hence find_unused_parameters=True (DDP would otherwise stop at the second
# iteration).
_base_ = ['./tokenpose-s-v1_stem_4xb32-300e_coco-256x192.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='HRNet',
        in_channels=3,
        extra=dict(
            stage1=dict(
                num_modules=1,
                num_branches=1,
                block='BOTTLENECK',
                num_blocks=(4, ),
                num_channels=(64, )),
            stage2=dict(
                num_modules=1,
                num_branches=2,
                block='BASIC',
                num_blocks=(4, 4),
                num_channels=(32, 64)),
            stage3=dict(
                num_modules=4,
                num_branches=3,
                block='BASIC',
                num_blocks=(4, 4, 4),
                num_channels=(32, 64, 128)),
            stage4=dict(
                num_modules=0,
                num_branches=3,
                block='BASIC',
                num_blocks=(4, 4, 4),
                num_channels=(32, 64, 128))),
        init_cfg=dict(
            type='Pretrained',
            checkpoint=
            'https://download.openmmlab.com/mmpose/pretrain_models/hrnet_'
            'w32-36af842e.pth')),
    neck=dict(type='FeatureMapProcessor', select_index=0),
    head=dict(in_channels=32, qk_scale=None))

# MMEngine's switch for the DDP wrapper: the dead stage-3 fuse layers above
find_unused_parameters = True
