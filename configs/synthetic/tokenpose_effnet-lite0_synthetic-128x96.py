# Ours: TokenPose (ICCV 2021) on the shared synthetic setting. As TokenPose-B
# reads HRNet-W32's stage-3 features, this reads the heatmap config's features
# (Lite0's stages 4 and 6 at stride 16: 432 channels, an 8x6 map at 128x96) in
# 1x1 patches (48 visual tokens).
# Transformer: TokenPose-S's (12 layers, 8 heads, D=192, MLP ratio 3, sine
# position embedding before every layer). Codec, data and augmentation: the
# heatmap config's (MSRA heatmaps 32x24), which it inherits.
_base_ = ['./td-hm_effnet-lite0_synthetic-128x96.py']

model = dict(
    head=dict(
        _delete_=True,
        type='TokenPoseHead',
        in_channels=432,
        # K = 17 from the dataset
        metainfo=dict(from_file='configs/_base_/datasets/coco.py'),
        patch_size=(1, 1),
        embed_dims=192,
        depth=12,
        num_heads=8,
        mlp_ratio=3,
        # the official TokenPose-S code scales by dim**-0.5
        qk_scale=192**-0.5,
        pos_every_layer=True,
        # the heatmap MLP's last Linear starts at N(0, 0.001^2), as MMPose's
        # HeatmapHead, not the official truncated-normal 0.02 (which
        # collapses the heatmaps to one mean map at the start)
        output_init='small',
        loss=dict(type='KeypointMSELoss', use_target_weight=True),
        decoder={{_base_.codec}}))
