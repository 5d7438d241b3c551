# SCAI stage 2: train the correction network C with L_C = a·L⁰ + b·L¹ + λ·(L¹ −
# L²) (a=0.85, b=0.65,
# λ=0.45), Φ and Γ frozen, from the stage-1 checkpoint. The paper's recipe for
# C: Adam, lr 4.1e-4, batch 64.
# The paper states a decay (0.97 per epoch) only for Φ/Γ and none for C, so C's
# lr is constant: the stage-1
# ExponentialLR is replaced (not inherited) by an explicit ConstantLR with
# factor 1. Epochs (20) are ours (the
# paper gives none). Test with test-time adaptation on (the default here) or
# off:
#   --cfg-options model.test_cfg.adapt.enable=False
_base_ = ['./scai-pg_td-hm-res50_1xb32-20e_coco-256x192.py']

model = dict(
    train_cfg=dict(stage='correction'), test_cfg=dict(adapt=dict(enable=True)))

# the stage-1 result (Φ, Γ and the frozen model's weights); set to your own
# work_dir's checkpoint
load_from = 'work_dirs/scai-pg_td-hm-res50_1xb32-20e_coco-256x192/epoch_20.pth'

train_cfg = dict(max_epochs=20)
optim_wrapper = dict(optimizer=dict(type='Adam', lr=4.1e-4))
# constant lr: a list replaces the base's [ExponentialLR(gamma=0.97)] whole;
# factor 1 leaves lr at 4.1e-4
param_scheduler = [
    dict(type='ConstantLR', factor=1.0, by_epoch=True, begin=0, end=20)
]
auto_scale_lr = dict(base_batch_size=64)
train_dataloader = dict(batch_size=64)
# Stage 2 uses every parameter of C in every step: no search for unused
# parameters under DDP.
find_unused_parameters = False
