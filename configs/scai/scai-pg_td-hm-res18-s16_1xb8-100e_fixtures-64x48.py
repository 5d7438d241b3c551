# SCAI stage 1 (Φ and Γ) for the bundled evidence run, on the ResNet-18
# fixtures model (td-hm_res18-s16_1xb8-300e_fixtures-64x48.py, whose data
# settings and `model` this inherits and wraps). A small-data variant, not the
# paper's recipe: batch 8 (the paper: 32; the 4 bundled images hold 14 people)
# and 100 epochs (ours). The paper's settings it keeps: depths 13 / 13 / 7
# layers, Adam lr 1e-3, ×0.97 per epoch. Width 64 and the other choices the
# paper leaves open are the SCAIPoseEstimator defaults (projects/scai/README).
_base_ = ['./td-hm_res18-s16_1xb8-300e_fixtures-64x48.py']

model = dict(
    _delete_=True,
    type='SCAIPoseEstimator',
    base_model={{_base_.model}},
    base_checkpoint=
    'work_dirs/td-hm_res18-s16_1xb8-300e_fixtures-64x48/epoch_300.pth',
    chains='coco',
    train_cfg=dict(
        stage='phi_gamma', alternate=True, gamma_distal_input='phi'),
    test_cfg=dict(adapt=dict(enable=False, steps=20, lr=0.013, decay=0.96)))

train_cfg = dict(max_epochs=100, val_interval=100)
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3))
param_scheduler = [
    dict(type='ExponentialLR', gamma=0.97, by_epoch=True, begin=0, end=100)
]
default_hooks = dict(checkpoint=dict(interval=100))
# Under DDP one of Φ / Γ has no gradient in each (alternating) step: DDP must
# look for unused parameters and leave their gradients undefined, so that Adam
# skips them as in single-process training (an exact-zero gradient would let
# Adam's momentum move them; see SCAIPoseEstimator's docstring).
# MMEngine's switch for the DDP wrapper its Runner builds
find_unused_parameters = True
