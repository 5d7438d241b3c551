# Ours, not the paper's: Poseur's official start (init-official) with one
# change, the coarse keypoints start at the box centre (fc_coord's bias 0.5, in
# normalised box coordinates) instead of near the top-left corner, where the
# official start puts them (Xavier gain 1 on the coarse layer and PyTorch's
# default bias: 0.007 ± 0.104), and every decoder layer with them. Everything
# else is the official start.
_base_ = ['./poseur_effnet-lite0_init-official_synthetic-128x96.py']

model = dict(head=dict(coord_bias_init=0.5))
