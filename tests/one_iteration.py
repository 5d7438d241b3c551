"""One-iteration training runs of MMPose's tools/train.py in a subprocess.

``ONE_ITERATION`` are ``--cfg-options`` for one epoch of one batch of two
people with no validation and no checkpoint; :func:`first_loss` reads the loss
of that iteration from the run's log.
"""
import re

ONE_ITERATION = [
    'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
    'train_dataloader.persistent_workers=False',
    'train_dataloader.dataset.indices=2', 'train_cfg.max_epochs=1',
    'train_cfg.val_interval=100', 'val_cfg=None', 'val_dataloader=None',
    'val_evaluator=None', 'default_hooks.logger.interval=1',
    'default_hooks.checkpoint.interval=-1',
    'default_hooks.checkpoint.save_last=False', 'load_from=None',
    'randomness.seed=0'
]


def first_loss(log: str) -> float:
    """The loss logged for iteration [1][1/1]; asserts it is there and not
    NaN."""
    loss = re.search(r'Epoch\(train\) +\[1\]\[1/1\].*?\bloss: (\S+)', log)
    assert loss, log[-4000:]
    value = float(loss.group(1))
    assert value == value, f'NaN loss\n{log[-4000:]}'
    return value
