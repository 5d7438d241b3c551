# Ablation of Poseur's loss normalisation, under the official init:
# poseur_effnet-lite0_init-official_... (the official RLELoss_poseur: every
# stage's summed loss divided by its keypoint slots, B*K for the coarse stage
# and B*4*K for each decoder layer with the three noisy groups) with MMPose's
# RLELoss normalisation instead (divided by B only), which weighs the coarse
# stage 4x less against each decoder layer. Everything else equal.
_base_ = ['./poseur_effnet-lite0_init-official_synthetic-128x96.py']

model = dict(
    head=dict(
        loss_coarse=dict(normalize='instance'),
        loss_decoder=dict(normalize='instance')))
