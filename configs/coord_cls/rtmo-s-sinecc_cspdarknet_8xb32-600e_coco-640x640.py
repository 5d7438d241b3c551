# RTMO-s with our one-stage head: MMPose's RTMO-s COCO 640x640 recipe unchanged
# (CSPDarknet deepen 0.33 / widen 0.5 from YOLOX-s weights, HybridEncoder on
# [128, 256, 512] channels -> 256-channel projector, pose vectors and DCC input
# of 256 channels, 8x32 images, 600 epochs, AdamW 4e-3, SimOTA, EMA; MLE loss
# weight 1.0 until epoch 280, where RTMOModeSwitchHook sets proxy_target_cc and
# the MLE / OKS loss weights 5 / 10; COCO stage 2 (YOLOXPoseModeSwitchHook)
# from epoch 580).
# Only the head differs: RTMOSineCCHead (MMPose's RTMO head module, assigner
# and losses; our DynamicCoordinateClassifier for the DCC, built from the
# base's dcc_cfg as is, and CoordMLELoss instead of MLECCLoss, at the base's
# weight). The hook's keys apply to our head unchanged. K comes from the
# dataset metainfo (the base's `metafile`, which its OKS loss and SimOTA
# assigner also read) instead of the base's literal num_keypoints. The same
# head on the other sizes: rtmo-{t,m,l}-sinecc_*.py.
_base_ = [
    'mmpose::body_2d_keypoint/rtmo/coco/rtmo-s_8xb32-600e_coco-640x640.py'
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
