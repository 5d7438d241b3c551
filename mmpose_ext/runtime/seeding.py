"""Seed torch's generators at every training iteration, so that a resumed run
draws what a straight run draws.

MMEngine's checkpoints hold no random-number-generator state, and resuming
re-seeds only when the checkpoint's seed differs from the config's.
``IterBasedTrainLoop`` then skips the batches already trained by loading them
again, which replays the data pipeline's numpy/``random`` draws exactly, but
not the draws the model made from torch's global generator in those iterations
(dropout masks, Poseur's noisy reference groups). A model with such draws
therefore continues from another torch state after ``--resume`` than without
the interruption (measured on Poseur: losses differ from the first resumed
iteration on; the data, numpy and ``random`` states are the same).

:class:`IterationSeedHook` seeds torch (CPU and every CUDA device,
``torch.manual_seed``) before each training iteration from the runner's seed
and the iteration: the model's draws in iteration i depend on nothing that
happened before it. The runner's seed already holds ``+ rank`` under
``randomness.diff_rank_seed=True`` (so the ranks draw differently) and is the
same on every rank otherwise, as MMEngine seeds. Data loading keeps its own
streams (numpy/``random`` in the main process; MMEngine's ``worker_init_fn`` in
workers).
"""
import numpy as np
import torch
from mmengine.hooks import Hook
from mmpose.registry import HOOKS


def iteration_seed(seed: int, iteration: int) -> int:
    """A well-mixed 63-bit seed for ``iteration`` of a run seeded with ``seed``
    (numpy's SeedSequence)."""
    state = np.random.SeedSequence([seed % 2**32, iteration]).generate_state(
        1, dtype=np.uint64)[0]
    return int(state >> np.uint64(1))


@HOOKS.register_module()
class IterationSeedHook(Hook):
    """Seed torch's generators before every training iteration.

    The seed is :func:`iteration_seed` (``runner.seed``, ``runner.iter``).
    Config: ``custom_hooks = [dict(type='IterationSeedHook')]``.
    """

    priority = 'VERY_HIGH'  # before any other hook of the iteration

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch=None) -> None:
        torch.manual_seed(iteration_seed(runner.seed, runner.iter))
