# Ours: top-down coordinate classification against sine-encoded bins (SineCoordClsHead: RTMO's DCC in static
# mode, RTMO's Laplace MLE loss, Laplace-integral scores) in the shared synthetic benchmark setting. Data,
# pipeline, codec (RegressionLabel: the MLE loss needs coordinates), schedule and ResNet-18-from-scratch come
# from the RLE synthetic config this inherits; the head is configs/coord_cls/sinecc_res50_... on ResNet-18.
_base_ = ['./td-reg_res18_rle-1xb32-30e_synthetic-128x96.py']

model = dict(
    neck=None,  # the head reads the 4x3 feature map, not RLE's pooled vector
    head=dict(
        _delete_=True,
        type='SineCoordClsHead',
        in_channels=512,
        metainfo=dict(from_file='configs/_base_/datasets/coco.py'),  # K = 17 from the dataset
        input_size={{_base_.codec.input_size}},
        in_featuremap_size=(3, 4),  # 96x128 input / 32
        simcc_split_ratio=2.0,
        feat_channels=128,
        spe_channels=128,
        spe_temperature=300.0,
        gau_cfg=dict(s=128, expansion_factor=2, dropout_rate=0.0, drop_path=0.0, act_fn='SiLU',
                     pos_enc='add'),
        loss=dict(type='CoordMLELoss'),
        scorer=dict(type='LaplaceIntegralScorer', radius=0.1)))
