# RTMO-t with our one-stage head: MMPose's RTMO-t recipe unchanged. MMPose
# 1.3.2 has RTMO-t only as a body7 config
# (configs/body_2d_keypoint/rtmo/body7/rtmo-t_8xb32-600e_body7-416x416.py in
# the installed package; no COCO-only RTMO-t), so this inherits that one:
# 416x416 input (multi-scale 320-640), CSPDarknet deepen 0.33 / widen 0.375
# from YOLOX-tiny weights, HybridEncoder on [96, 192, 384] channels ->
# 192-channel projector, pose vectors and DCC input of 192 channels, 8x32
# images, 600 epochs on the seven body7 datasets, AdamW 4e-3, SimOTA, EMA; MLE
# loss weight 1.0 until epoch 280, where RTMOModeSwitchHook sets
# proxy_target_cc and the MLE / OKS loss weights 5 / 10; COCO-only stage 2
# (YOLOXPoseModeSwitchHook) from epoch 580.
# Only the head differs, exactly as in
# rtmo-s-sinecc_cspdarknet_8xb32-600e_coco-640x640.py: RTMOSineCCHead (MMPose's
# head module, assigner and losses; our DynamicCoordinateClassifier from the
# base's dcc_cfg as is; CoordMLELoss instead of MLECCLoss, at the base's
# weight). The hook's keys apply to our head unchanged. K comes from the
# dataset metainfo (the base's `metafile`) instead of the base's literal
# num_keypoints.
_base_ = [
    'mmpose::body_2d_keypoint/rtmo/body7/rtmo-t_8xb32-600e_body7-416x416.py'
]

from mmpose.datasets.datasets.utils import \
    parse_pose_metainfo  # noqa: E402  (after _base_: a plain config)

custom_imports = dict(imports=['mmpose_ext'], allow_failed_imports=False)

metafile = 'configs/_base_/datasets/coco.py'  # the base's; K from it
num_keypoints = parse_pose_metainfo(dict(from_file=metafile))['num_keypoints']

model = dict(
    head=dict(
        type='RTMOSineCCHead',
        num_keypoints=num_keypoints,
        # detections of the exported top-k graph (forward); predict follows
        # test_cfg
        num_dets=100,
        loss_mle=dict(
            _delete_=True,
            type='CoordMLELoss',
            # the base's weight
            loss_weight={{_base_.model.head.loss_mle.loss_weight}})))
# Another model's checkpoint (load_from, --resume, MMPose's tools/test.py
# CHECKPOINT) is an error listing the keys, not a warning and AP 0
# (mmpose_ext.checkpoint). A default hook, as MMPose's `visualization`, so a
# config that replaces custom_hooks keeps it.
default_hooks = dict(strict_checkpoint=dict(type='StrictCheckpointHook'))
