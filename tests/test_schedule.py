from mmengine.config import Config

from mmpose_ext.schedule import set_epochs


def test_set_epochs_retimes_every_epoch_based_part():
    cfg = Config(
        dict(
            train_cfg=dict(max_epochs=240, val_interval=10),
            default_hooks=dict(checkpoint=dict(interval=10)),
            param_scheduler=[
                dict(type='LinearLR', begin=0, end=500, by_epoch=False),
                dict(
                    type='CosineAnnealingLR',
                    T_max=240,
                    begin=0,
                    end=240,
                    by_epoch=True),
                dict(
                    type='MultiStepLR',
                    milestones=[170, 200],
                    begin=0,
                    end=240),
            ]))
    set_epochs(cfg, 3)
    assert (cfg.train_cfg.max_epochs, cfg.train_cfg.val_interval,
            cfg.default_hooks.checkpoint.interval) == (3, 3, 3)
    warmup, cosine, steps = cfg.param_scheduler
    assert warmup.end == 500  # iteration-based warm-up untouched
    assert (cosine.end, cosine.T_max) == (3, 3)
    assert steps.end == 3
