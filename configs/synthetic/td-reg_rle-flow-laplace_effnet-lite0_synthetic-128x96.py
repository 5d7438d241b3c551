# Ours: MMPose's RLE on the shared synthetic setting with RLEFlowLoss and
# Laplace-integral scores (the LaplaceRegressionLabel codec: RegressionLabel's
# encoding, Poseur's Laplace score when decoding). Everything else -- the
# pooled Lite0 features, RLEHead, data, augmentation -- is
# td-reg_rle_effnet-lite0_..., which it inherits. The benchmark also tests it
# with MMPose's score (1 - mean sigma) on the same predictions.
_base_ = ['./td-reg_rle_effnet-lite0_synthetic-128x96.py']

codec = dict(
    type='LaplaceRegressionLabel',
    input_size={{_base_.input_size}},
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

benchmark = dict(
    test_variants={
        '+score 1-σ':
        dict(
            decoder=dict(
                type='RegressionLabel', input_size={{_base_.input_size}}))
    })
