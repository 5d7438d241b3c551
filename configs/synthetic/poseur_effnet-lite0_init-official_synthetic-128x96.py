# Ablation of Poseur's initialisation: poseur_effnet-lite0_synthetic-128x96.py
# (the DETR-style init: zero EMSDA offset and attention weights with a ring of
# offset biases as mmcv's MSDA, N(0, 1) query embedding, PyTorch's defaults for
# FFNs and the self-attention output, coarse layers with gain 0.01 and the
# coordinate bias at the image centre) with the official code's start
# instead, the default of PoseurHead and of the COCO configs (each parameter
# as the official code starts it; test_poseur_official.py). Everything else
# equal. 200 iterations, one seed (docs/benchmark_poseur_start.md): held-out
# PCK@0.1 0.368 official vs 0.492 DETR-style (no skill 0.338); with the coarse
# points at the box centre (init-official-centre, ours) 0.487.
_base_ = ['./poseur_effnet-lite0_synthetic-128x96.py']

model = dict(head=dict(init_scheme='official'))
