# Coordinate classification against sine-encoded bins (SineCoordClsHead: RTMO's
# DCC in static mode) with RTMO's Laplace MLE loss and σ-based
# (Laplace-integral) keypoint scores, on MMPose's SimCC ResNet-50 COCO 256x192
# recipe. Differences from the base: the head, the loss and the codec
# (RegressionLabel gives the coordinates the MLE loss needs); data, schedule
# and pretrained backbone are MMPose's.
_base_ = [
    'mmpose::body_2d_keypoint/simcc/coco/simcc_res50_8xb64-210e_coco-'
    '256x192.py'
]

custom_imports = dict(imports=['mmpose_ext'], allow_failed_imports=False)

codec = dict(type='RegressionLabel', input_size=(192, 256))

model = dict(
    head=dict(
        _delete_=True,
        type='SineCoordClsHead',
        in_channels=2048,
        # K = 17 from the dataset
        metainfo=dict(from_file='configs/_base_/datasets/coco.py'),
        input_size=codec['input_size'],
        in_featuremap_size=tuple([s // 32 for s in codec['input_size']]),
        simcc_split_ratio=2.0,
        feat_channels=128,
        spe_channels=128,
        spe_temperature=300.0,
        # each keypoint's map → its feature (shared ScaleNorm + Linear),
        # logits scaled by 1/sqrt(feat_channels), no GAU: the calibrated
        # start (docs/coord_cls.md)
        input_mode='keypoint',
        logit_scale='rsqrt',
        gau_cfg=None,
        loss=dict(type='CoordMLELoss'),
        scorer=dict(type='LaplaceIntegralScorer', radius=0.1)))

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='RandomHalfBody'),
    dict(type='RandomBBoxTransform'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
# Another model's checkpoint (load_from, --resume, MMPose's tools/test.py
# CHECKPOINT) is an error listing the keys, not a warning and AP 0
# (mmpose_ext.checkpoint). A default hook, as MMPose's `visualization`, so a
# config that replaces custom_hooks keeps it.
default_hooks = dict(strict_checkpoint=dict(type='StrictCheckpointHook'))
