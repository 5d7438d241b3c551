# Poseur, MobileNetV2, COCO 256x192: the ResNet-50 recipe with MobileNetV2
# stages 1, 2, 4, 7 (strides 4-32; 24, 32, 96, 1280 channels) feeding the neck,
# SyncBN, as the official config (aim-uofa/Poseur
# configs/poseur/coco/poseur_mobilenetv2_coco_256x192.py).
_base_ = ['./poseur_res50_8xb32-325e_coco-256x192.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='MobileNetV2',
        widen_factor=1.,
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        out_indices=(1, 2, 4, 7),
        init_cfg=dict(type='Pretrained', checkpoint='mmcls://mobilenet_v2')),
    neck=dict(in_channels=[24, 32, 96, 1280]))
