# Ours: the one-stage RTMOSineCCHead (MMPose's RTMO head module, SimOTA and
# losses; our DynamicCoordinateClassifier and CoordMLELoss) in exactly the
# setting of rtmo_effnet-lite0_synthetic-256x256.py (MMPose's RTMOHead), which
# it inherits. The DCC keeps RTMO's layout (one pose vector per grid point,
# BatchNorm, GAU) with the calibrated logits of the top-down head: ×1/sqrt(C)
# and the GAU started near its shortcut (docs/coord_cls.md).
_base_ = ['./rtmo_effnet-lite0_synthetic-256x256.py']

model = dict(
    head=dict(
        type='RTMOSineCCHead',
        # the exported graph's top-k; predict follows test_cfg
        num_dets=100,
        dcc_cfg=dict(logit_scale='rsqrt', gau_init='near_identity'),
        loss_mle=dict(_delete_=True, type='CoordMLELoss', loss_weight=1.0)))
