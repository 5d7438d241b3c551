# Ours: MMPose's RLE in the shared synthetic benchmark setting with RLEFlowLoss and Laplace-integral scores
# (the LaplaceRegressionLabel codec: RegressionLabel's encoding, Poseur's Laplace score when decoding).
_base_ = ['./td-reg_res18_rle-1xb32-30e_synthetic-128x96.py']

codec = dict(type='LaplaceRegressionLabel', input_size=(96, 128), radius=0.2, weight=1.0)

model = dict(
    head=dict(
        loss=dict(_delete_=True, type='RLEFlowLoss', use_target_weight=True,
                  q_distribution='laplace', prior_mean=0.0),
        decoder=codec))
