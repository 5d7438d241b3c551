# RLE (ResNet-50, COCO 256x192, MMPose's recipe) with two changes from
# mmpose_ext:
#   - the loss is RLEFlowLoss (here configured exactly as MMPose's RLELoss; set
#     q_distribution='poseur',
#     prior_mean=0.5 for Poseur's variant),
#   - keypoint scores are Poseur's Laplace integral (LaplaceRegressionLabel
#     codec) instead of 1 - mean(σ).
# Everything else (data, schedule, pretrained backbone) comes from MMPose's own
# config.
_base_ = [
    'mmpose::body_2d_keypoint/topdown_regression/coco/'
    'td-reg_res50_rle-8xb64-210e_coco-256x192.py'
]

custom_imports = dict(imports=['mmpose_ext'], allow_failed_imports=False)

codec = dict(
    type='LaplaceRegressionLabel',
    input_size=(192, 256),
    radius=0.2,
    weight=1.0)

model = dict(
    head=dict(
        # ours: MMPose's RLEHead with its layers in float32 under autocast
        # (RLEHead's numpy accuracy stops under CPU bfloat16); RLEHead
        # otherwise
        type='Float32RLEHead',
        loss=dict(
            _delete_=True,
            type='RLEFlowLoss',
            use_target_weight=True,
            q_distribution='laplace',
            prior_mean=0.0),
        decoder=codec))
# Another model's checkpoint (load_from, --resume, MMPose's tools/test.py
# CHECKPOINT) is an error listing the keys, not a warning and AP 0
# (mmpose_ext.checkpoint). A default hook, as MMPose's `visualization`, so a
# config that replaces custom_hooks keeps it.
default_hooks = dict(strict_checkpoint=dict(type='StrictCheckpointHook'))
