# Ours: TokenPose (ICCV 2021) in the shared synthetic benchmark setting. Data, pipeline, codec (MSRA heatmaps
# 32x24 at 128x96), schedule and ResNet-18-from-scratch come from the heatmap synthetic config this inherits.
# As TokenPose-B reads HRNet-W32's stride-4 stage-3 features, this reads ResNet-18's stride-8 stage (128
# channels, a 16x12 map at 128x96) in 2x2 patches (48 visual tokens) -- the same backbone as every other
# method here, truncated where TokenPose wants spatial tokens -- with TokenPose-S's transformer (12 layers,
# 8 heads, D=192, MLP ratio 3, sine position embedding before every layer).
_base_ = ['./td-hm_res18_1xb32-30e_synthetic-128x96.py']

model = dict(
    backbone=dict(num_stages=2, out_indices=(1, ), strides=(1, 2), dilations=(1, 1)),
    head=dict(
        _delete_=True,
        type='TokenPoseHead',
        in_channels=128,
        metainfo=dict(from_file='configs/_base_/datasets/coco.py'),  # K = 17 from the dataset
        patch_size=(2, 2),
        embed_dims=192,
        depth=12,
        num_heads=8,
        mlp_ratio=3,
        qk_scale=192**-0.5,  # the official TokenPose-S code scales by dim**-0.5
        pos_every_layer=True,
        loss=dict(type='KeypointMSELoss', use_target_weight=True),
        decoder={{_base_.codec}}))
