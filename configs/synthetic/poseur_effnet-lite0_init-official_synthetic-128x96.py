# Ablation of Poseur's initialisation: poseur_effnet-lite0_synthetic-128x96.py
# (the DETR-style init: zero EMSDA offset and attention weights with a ring of
# offset biases as mmcv's MSDA, N(0, 1) query embedding, PyTorch's defaults for
# FFNs and the self-attention output, coarse layers with gain 0.01 and the
# coordinate bias at the image centre) with the official code's effective init
# instead, the default of PoseurHead and of the COCO configs: Xavier on every
# transformer matrix, EMSDA sampling offsets and attention weights included,
# coarse fc_coord/fc_sigma with gain 1 and PyTorch's default bias. Everything
# else equal. Same-budget result (200 iterations, README "Benchmarks"):
# held-out PCK@0.1 0.277 official vs 0.46 DETR-style.
_base_ = ['./poseur_effnet-lite0_synthetic-128x96.py']

model = dict(head=dict(init_scheme='official'))
