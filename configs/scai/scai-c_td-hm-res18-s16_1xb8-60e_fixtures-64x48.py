# SCAI stage 2 (C, with L_C) for the bundled evidence run, from the stage-1 checkpoint; the paper's
# optimiser for C (Adam 4.1e-4). Test-time adaptation on (paper: lr 0.013, ×0.96 per step, ≤ 20 steps).
_base_ = ['./scai-pg_td-hm-res18-s16_1xb8-100e_fixtures-64x48.py']

model = dict(train_cfg=dict(stage='correction'), test_cfg=dict(adapt=dict(enable=True)))
load_from = 'work_dirs/scai-pg_td-hm-res18-s16_1xb8-100e_fixtures-64x48/epoch_100.pth'
optim_wrapper = dict(optimizer=dict(lr=4.1e-4))
train_cfg = dict(max_epochs=60, val_interval=60)
param_scheduler = [dict(type='ExponentialLR', gamma=0.97, by_epoch=True, begin=0, end=60)]
default_hooks = dict(checkpoint=dict(interval=60))
# Stage 2 uses every parameter of C in every step: no search for unused parameters under DDP.
find_unused_parameters = False
