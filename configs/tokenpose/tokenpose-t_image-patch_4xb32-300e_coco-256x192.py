# TokenPose-T (Li et al., ICCV 2021), the pure-transformer variant, at COCO
# 256x192: official leeyegy/TokenPose
# experiments/coco/tokenpose/tokenpose_t_256_192_patch1612_dim192_depth12_heads16.yaml
# and lib/models/pose_tokenpose_t.py (TokenPose_TB_base on the image:
# feature_size = image size, channels 3). No CNN: the normalised RGB image is
# cut into 16x12 patches (16x16 = 256 visual tokens of 3*16*12 = 576 values),
# Linear -> D=192, 17 keypoint tokens, 12 layers x 16 heads (head_dim 12,
# head_dim**-0.5 scale), MLP ratio 3, 'sine-full', heatmap MLP LN ->
# Linear(192, 384) -> LN -> Linear(384, 64*48). From scratch (no pretraining),
# 4 GPUs x 32, the same recipe as S-v1 (which carries it and lists what still
# differs). Parameters: 5.82 M here; the official yaml's header says "580.3w"
# (5.80 M).
# Differences: none in the model beyond those common to every TokenPose here
# (ONNX-friendly reshapes, position embedding computed for the actual input
# size); the official pose_tokenpose_t.py cannot be built as released (its
# __init__ calls super(PoseMobileNet, self), a name it never defines).
_base_ = ['./tokenpose-s-v1_stem_4xb32-300e_coco-256x192.py']

model = dict(
    # the image itself is the "feature map"
    backbone=dict(_delete_=True, type='TokenPoseImageInput'),
    head=dict(in_channels=3, patch_size=(16, 12), num_heads=16, qk_scale=None))
