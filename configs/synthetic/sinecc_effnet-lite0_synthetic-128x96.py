# Ours: top-down coordinate classification against sine-encoded bins
# (SineCoordClsHead: RTMO's DCC in static mode, RTMO's Laplace MLE loss,
# Laplace-integral scores) on the shared synthetic setting. The head reads the
# heatmap config's features (Lite0's stages 4 and 6 at stride 16: 432 channels,
# 8x6 at 128x96); data and augmentation as td-reg_rle_effnet-lite0_...
# (RegressionLabel: the MLE loss needs coordinates), which it inherits. Head as
# configs/coord_cls/sinecc_res50_...
_base_ = ['./td-reg_rle_effnet-lite0_synthetic-128x96.py']

model = dict(
    backbone=dict(out_indices=(4, 6)),
    # a map, not RLE's pooled vector
    neck=dict(_delete_=True, type='FeatureMapProcessor', concat=True),
    head=dict(
        _delete_=True,
        type='SineCoordClsHead',
        in_channels=432,
        # K = 17 from the dataset
        metainfo=dict(from_file='configs/_base_/datasets/coco.py'),
        input_size={{_base_.input_size}},
        in_featuremap_size=(6, 8),  # 96x128 input / 16
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
        scorer=dict(type='LaplaceIntegralScorer', radius=0.1)),
    test_cfg=dict(flip_test=True))
