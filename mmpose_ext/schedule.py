"""Re-timing an MMEngine config's epoch-based schedule (used by the demo and
the evidence tools)."""


def set_epochs(cfg, epochs: int) -> None:
    """Set ``cfg``'s training length to ``epochs`` in place, consistently: the
    validation and checkpoint intervals become ``epochs`` (one evaluation and
    one checkpoint at the end) and every epoch-based scheduler ends there
    (``T_max`` too, for cosine schedules).

    Iteration-based warm-ups are kept.
    """
    cfg.train_cfg.max_epochs = epochs
    cfg.train_cfg.val_interval = epochs
    cfg.default_hooks.checkpoint.interval = epochs
    for sched in cfg.param_scheduler:
        if sched.get('by_epoch', True):
            sched.end = epochs
            if 'T_max' in sched:
                sched.T_max = epochs
