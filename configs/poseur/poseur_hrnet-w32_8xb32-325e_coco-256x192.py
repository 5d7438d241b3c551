# Poseur, HRNet-W32, COCO 256x192: the ResNet-50 recipe with all four HRNet
# branches (32-256 channels, strides 4-32, multiscale_output) feeding the neck,
# SyncBN, as the official config (aim-uofa/Poseur
# configs/poseur/coco/poseur_hrnet_w32_coco_256x192.py).
_base_ = ['./poseur_res50_8xb32-325e_coco-256x192.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='HRNet',
        in_channels=3,
        norm_cfg=dict(type='SyncBN', requires_grad=True),
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
                num_modules=3,
                num_branches=4,
                block='BASIC',
                num_blocks=(4, 4, 4, 4),
                num_channels=(32, 64, 128, 256),
                multiscale_output=True)),
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmpose/pretrain_models/'
            'hrnet_w32-36af842e.pth')),
    neck=dict(in_channels=[32, 64, 128, 256]))
