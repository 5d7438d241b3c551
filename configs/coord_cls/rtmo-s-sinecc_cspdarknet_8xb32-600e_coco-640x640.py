# RTMO-s with our one-stage head: MMPose's RTMO-s COCO 640x640 recipe unchanged (CSPDarknet-s + HybridEncoder,
# 600 epochs, two stages via YOLOXPoseModeSwitchHook / RTMOModeSwitchHook at epochs 580 / 280, SimOTA, EMA).
# Only the head differs: RTMOSineCCHead (MMPose's RTMO head module, assigner and losses; our
# DynamicCoordinateClassifier for the DCC, built from the base's dcc_cfg as is, and CoordMLELoss for the MLE
# loss). The stage-2 hook keys (proxy_target_cc, loss_mle.loss_weight, loss_oks.loss_weight) apply unchanged.
_base_ = ['mmpose::body_2d_keypoint/rtmo/coco/rtmo-s_8xb32-600e_coco-640x640.py']

custom_imports = dict(imports=['mmpose_ext'], allow_failed_imports=False)

model = dict(
    head=dict(
        type='RTMOSineCCHead',
        num_dets=100,  # detections of the exported top-k graph (forward); predict follows test_cfg
        loss_mle=dict(_delete_=True, type='CoordMLELoss', loss_weight=1.0)))
