# SCAI stage 2 (C, with L_C) for the bundled evidence run, from the stage-1 checkpoint; the paper's
# optimiser for C (Adam 4.1e-4). Test-time adaptation on (paper: lr 0.013, ×0.96 per step, ≤ 20 steps).
_base_ = ['./scai-pg_td-hm-res18_1xb8-40e_fixtures-128x96.py']

model = dict(train_cfg=dict(stage='correction'), test_cfg=dict(adapt=dict(enable=True)))
load_from = 'work_dirs/scai-pg_td-hm-res18_1xb8-40e_fixtures-128x96/epoch_40.pth'
optim_wrapper = dict(optimizer=dict(lr=4.1e-4))
