# SCAI stage 2 (C, with L_C) for the bundled evidence run, from the stage-1
# checkpoint. A small-data variant, not the paper's recipe: batch 8 (the paper:
# 64; the 4 bundled images hold 14 people) and 60 epochs (ours). What it shares
# with the paper's settings for C: Adam, lr 4.1e-4, and a constant lr (the
# paper states a decay, 0.97 per epoch, only for Φ/Γ; none for C, so the
# stage-1 ExponentialLR is replaced by ConstantLR, factor 1). Test-time
# adaptation on (the paper's lr 0.013, ×0.96 per step, ≤ 20 steps).
_base_ = ['./scai-pg_td-hm-res18-s16_1xb8-100e_fixtures-64x48.py']

model = dict(
    train_cfg=dict(stage='correction'), test_cfg=dict(adapt=dict(enable=True)))
load_from = ('work_dirs/scai-pg_td-hm-res18-s16_1xb8-100e_fixtures-64x48/'
             'epoch_100.pth')
optim_wrapper = dict(optimizer=dict(type='Adam', lr=4.1e-4))
train_cfg = dict(max_epochs=60, val_interval=60)
param_scheduler = [
    dict(type='ConstantLR', factor=1.0, by_epoch=True, begin=0, end=60)
]
default_hooks = dict(checkpoint=dict(interval=60))
# Stage 2 uses every parameter of C in every step: no search for unused
# parameters under DDP.
find_unused_parameters = False
