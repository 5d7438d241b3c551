"""Exact resume: training N iterations straight, and resuming at N/2 from the
checkpoint MMEngine wrote there (``resume=True``, ``load_from`` = that
checkpoint, as ``tools/train.py --resume CKPT`` sets them) and training on to
N, give the same weights (1e-6) on the CPU, seeded, for Poseur, SCAI's two
stages (stage 1 alternates Φ and Γ by iteration) and MMPose's heatmap head.

Poseur draws from torch's generator in the model (dropout, noisy reference
groups), which MMEngine's resume does not restore (see
``mmpose_ext.runtime.seeding``): it resumes exactly with ``IterationSeedHook``,
which its configs carry (checked here). The heatmap head draws nothing in the
model and resumes exactly in any case.

The resumed half crosses an epoch boundary, so the sampler's reshuffle (seeded
by seed + epoch) is exercised; MMEngine's IterBasedTrainLoop skips the N/2
batches already seen by loading them again. The checkpoint is read with torch's
``weights_only=True`` default, which works through mmpose_ext's allow-list
(``mmpose_ext.checkpoint``).
"""
import pytest
import torch
from mmengine.hooks import Hook
from mmengine.runner import Runner
from zoo import runner_cfg

ITERS = 8  # N
BATCH = 2
ATOL = 1e-6
# : heads whose model draws random numbers: resumed exactly with
# IterationSeedHook
DRAWS_IN_MODEL = ('poseur', )
#: where the run stops and resumes: N/2, except SCAI's stage 1, which stops
#: after an odd number of its alternating Φ / Γ steps (so the checkpoint must
#: say which one comes next)
RESUME_AT = {'scai-pg': 3}

# The Runner trains on the GPU when there is one, where kernels need not be
# bitwise reproducible (MMEngine's deterministic=False; grid_sample's backward
# adds atomically).
pytestmark = pytest.mark.skipif(
    torch.cuda.is_available(), reason='exact resume is checked on the CPU')


class RecordLosses(Hook):
    """Every training iteration's logged values, by iteration."""

    def __init__(self):
        self.losses = {}

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        self.losses[runner.iter + 1] = {
            k: float(v)
            for k, v in outputs.items()
        }


def _train(name, data_root, work_dir, resume_from=None):
    cfg = runner_cfg(name, data_root, work_dir, iters=ITERS, batch_size=BATCH)
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook',
        interval=RESUME_AT.get(name, ITERS // 2),
        by_epoch=False)
    if name in DRAWS_IN_MODEL:  # the config as shipped
        assert any(h['type'] == 'IterationSeedHook'
                   for h in cfg.custom_hooks), cfg.custom_hooks
    if resume_from is not None:
        cfg.resume, cfg.load_from = True, str(resume_from)
    runner = Runner.from_cfg(cfg)
    record = RecordLosses()
    runner.register_hook(record)
    runner.train()
    return runner, record.losses


@pytest.mark.parametrize('name',
                         ['poseur', 'mmpose-heatmap', 'scai-pg', 'scai-c'])
def test_resume_gives_the_weights_of_a_straight_run(name, tiny_synthetic,
                                                    tmp_path):
    straight, straight_losses = _train(name, tiny_synthetic,
                                       tmp_path / 'straight')
    batches_per_epoch = len(straight.train_dataloader)
    at = RESUME_AT.get(name, ITERS // 2)
    # the resumed part crosses an epoch boundary
    assert at < batches_per_epoch < ITERS

    resumed, resumed_losses = _train(
        name,
        tiny_synthetic,
        tmp_path / 'resumed',
        resume_from=tmp_path / 'straight' / f'iter_{at}.pth')
    assert sorted(resumed_losses) == list(range(at + 1, ITERS + 1))
    assert resumed.iter == straight.iter == ITERS

    first_diverging = next(
        (i for i in resumed_losses if resumed_losses[i] != straight_losses[i]),
        None)
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    deltas = {
        k: (a[k].double() - b[k].double()).abs().max().item()
        for k in a if a[k].numel()
    }
    worst = max(deltas, key=deltas.get)
    # the second half trained: Δ 0 is not for want of a change
    mid = torch.load(
        tmp_path / 'straight' / f'iter_{at}.pth',
        map_location='cpu')['state_dict']
    assert any(not torch.equal(mid[k], a[k]) for k in a
               if a[k].is_floating_point()), name
    print(f'{name}: max |Δ| {deltas[worst]:.3g} at {worst}; first differing '
          f'loss at iteration {first_diverging}')
    assert deltas[worst] <= ATOL, (
        f'{name}: resumed weights differ by {deltas[worst]:.3g} at {worst}; '
        f'losses first differ at iteration {first_diverging}: '
        f'{straight_losses.get(first_diverging)} vs '
        f'{resumed_losses.get(first_diverging)}')
