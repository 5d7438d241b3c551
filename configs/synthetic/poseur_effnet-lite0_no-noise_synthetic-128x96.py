# Ablation of Poseur's noisy reference points:
# poseur_effnet-lite0_synthetic-128x96.py with the three noisy query groups
# switched off (only the clean group, whose reference points are the coarse
# stage's), everything else equal. The paper reports +0.9 AP from the noise on
# COCO (Poseur, Table 6).
_base_ = ['./poseur_effnet-lite0_synthetic-128x96.py']

model = dict(head=dict(noise_cfg=dict(num_groups=0)))
