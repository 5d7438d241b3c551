"""One data-parallel step equals one step on the whole batch, and Poseur's
noise differs across ranks.

2 CPU processes (torch.multiprocessing spawn, gloo) each run half of a fixed
batch of 4 training instances through MMEngine's
``MMDistributedDataParallel(device_ids=None)`` (the wrapper
``mmpose_ext.tools.train`` builds, with the config's
``find_unused_parameters``) and back-propagate; the averaged gradients must
equal those of one process on all 4 instances (1e-5). Made comparable:

- batch norm in eval mode in both runs (each rank's half has its own batch
  statistics; SyncBN needs CUDA);
- Poseur without its training-time randomness (dropout 0, no noisy groups):
  with them, each process draws its own noise and masks for its own half, and
  no single-process step draws the same ones.

Poseur's noisy reference groups must differ across ranks when MMEngine seeds
with ``diff_rank_seed=True`` (``seed + rank``; otherwise every rank draws the
same noise for its instances), and be equal without it: both processes seed as
``Runner.set_randomness`` does (``mmengine.runner.set_random_seed``), and then
as ``IterationSeedHook`` does, and draw with the config's
``NoisyReferenceSampler``; the Poseur config (as the zoo trains it) sets
``diff_rank_seed=True``.
"""
import copy

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from mmengine.dataset import pseudo_collate
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import init_default_scope
from mmengine.runner import set_random_seed
from mmpose.registry import DATASETS, MODELS
from spawn_utils import end_worker, guard_worker
from torch.nn.modules.batchnorm import _BatchNorm
from zoo import OURS, runner_cfg

from mmpose_ext.models.poseur.noisy_reference import NoisyReferenceSampler
from mmpose_ext.runtime import iteration_seed

WORLD = 2
BATCH = 4  # global; 2 per process
# per element: |Δ| <= ATOL * max(1, max|grad of that tensor|) + RTOL * |grad|.
# The summation order differs between 2 x 2 and 1 x 4 samples, and float32
# rounding scales with the size of the summands, so the absolute tolerance
# follows each tensor's largest gradient (a normalisation bug is a factor 2).
# Measured: sinecc's backbone gradients differ by 1.1e-5 of their maximum.
RTOL, ATOL = 1e-5, 5e-5
#: overrides removing training-time randomness (see the module docstring)
DETERMINISTIC = {
    'poseur': {
        'model.head.dropout': 0.0,
        'model.head.noise_cfg.num_groups': 0
    }
}


def _bn_eval(model: torch.nn.Module) -> torch.nn.Module:
    model.train()
    for module in model.modules():
        if isinstance(module, _BatchNorm):
            module.eval()
    return model


def _backward(model: torch.nn.Module, batch: dict) -> torch.Tensor:
    """data preprocessor → loss → parse_losses → backward, as MMEngine's
    train_step (no optimizer step)."""
    inner = model.module if isinstance(model,
                                       MMDistributedDataParallel) else model
    data = inner.data_preprocessor(batch, training=True)
    loss, _ = inner.parse_losses(model(**data, mode='loss'))
    loss.backward()
    return loss.detach()


def _grads(model: torch.nn.Module) -> dict:
    return {
        n: p.grad.detach().clone()
        for n, p in model.named_parameters() if p.grad is not None
    }


def _worker(rank: int, init_file: str, payload: dict, out: str) -> None:
    guard_worker()  # a hang fails the test with every thread's traceback
    torch.set_num_threads(1)
    dist.init_process_group(
        'gloo', init_method=f'file://{init_file}', rank=rank, world_size=WORLD)
    init_default_scope('mmpose')
    results = {'grads': {}, 'noise': {}}
    for name, item in payload['heads'].items():
        model = MODELS.build(item['model'])
        model.load_state_dict(item['state'])
        ddp = MMDistributedDataParallel(
            module=_bn_eval(model),
            device_ids=None,
            broadcast_buffers=False,
            find_unused_parameters=item['find_unused_parameters'])
        n = BATCH // WORLD
        _backward(ddp, {
            k: v[rank * n:(rank + 1) * n]
            for k, v in item['batch'].items()
        })
        results['grads'][name] = _grads(model)
        # while the process group lives: a reducer left waiting on unused
        # parameters (SCAI Φ/Γ with
        del ddp
        #          find_unused_parameters=False) hung this process's exit when
        #          freed after destroy_process_group
    # Poseur's noisy groups under MMEngine's seeding (and IterationSeedHook's),
    # with and without diff_rank_seed
    points = torch.rand(2, 17, 2, generator=torch.Generator().manual_seed(0))
    sampler = NoisyReferenceSampler(**payload['noise_cfg'])
    for diff_rank_seed in (True, False):
        # as Runner.set_randomness
        seed = set_random_seed(seed=0, diff_rank_seed=diff_rank_seed)
        after_runner_seeding = sampler(points)
        # as IterationSeedHook before iteration 3
        torch.manual_seed(iteration_seed(seed, 3))
        for key, noisy in (('runner', after_runner_seeding),
                           ('iteration', sampler(points))):
            gathered = [torch.empty_like(noisy) for _ in range(WORLD)]
            dist.all_gather(gathered, noisy)
            results['noise'][key, diff_rank_seed] = gathered
    if rank == 0:
        torch.save(results, out)
    end_worker()


def _visible(item: dict) -> int:
    return int((item['data_samples'].gt_instance_labels.keypoint_weights
                > 0).sum())


def _head_case(name: str, data_root, tmp_path) -> dict:
    """Model config, initial weights, a fixed training batch of BATCH
    instances, and the single-process gradients on it, for head ``name``."""
    cfg = runner_cfg(
        name, data_root, tmp_path / name, overrides=DETERMINISTIC.get(name))
    init_default_scope('mmpose')
    model = MODELS.build(copy.deepcopy(cfg.model))
    model.init_weights()
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    set_random_seed(0)  # the training pipeline's augmentations
    items = sorted((dataset[i] for i in range(len(dataset))), key=_visible)
    # the least visible instances on rank 0, the most visible on rank 1: a loss
    # normalised by the visible keypoints of the local batch would then differ
    # from the whole batch's
    items = items[:BATCH // 2] + items[-(BATCH // 2):]
    assert _visible(items[0]) + _visible(items[1]) < _visible(
        items[2]) + _visible(items[3])
    batch = pseudo_collate(items)
    state = copy.deepcopy(model.state_dict())
    _backward(_bn_eval(model), batch)
    return dict(
        model=cfg.model.to_dict(),
        state=state,
        batch=batch,
        grads=_grads(model),
        find_unused_parameters=cfg.get('find_unused_parameters', False))


@pytest.fixture(scope='module')
def two_process_run(tiny_synthetic, tmp_path_factory):
    tmp = tmp_path_factory.mktemp('grads')
    heads = {name: _head_case(name, tiny_synthetic, tmp) for name in OURS}
    poseur = runner_cfg('poseur', tiny_synthetic, tmp / 'poseur_noise')
    payload = {
        'heads': {
            n: {
                k: v
                for k, v in c.items() if k != 'grads'
            }
            for n, c in heads.items()
        },
        'noise_cfg': poseur.model.head.noise_cfg.to_dict()
    }
    out = tmp / 'results.pt'
    mp.spawn(
        _worker,
        args=(str(tmp / 'pg_init'), payload, str(out)),
        nprocs=WORLD,
        join=True)
    # written by _worker above
    return heads, torch.load(out, weights_only=False)


@pytest.mark.parametrize('name', OURS)
def test_ddp_gradients_equal_whole_batch(name, two_process_run):
    heads, results = two_process_run
    single, ddp = heads[name]['grads'], results['grads'][name]
    assert single and set(ddp) == set(single), sorted(set(single) ^ set(ddp))
    worst = max(single, key=lambda k: (ddp[k] - single[k]).abs().max())
    delta = (ddp[worst] - single[worst]).abs().max().item()
    scale = single[worst].abs().max().item()
    print(f'{name}: max |Δgrad| {delta:.3g} at {worst} (|grad| up to '
          f'{scale:.3g})')
    for key in single:
        atol = ATOL * max(1.0, single[key].abs().max().item())
        diff = (ddp[key] - single[key]).abs().max()
        assert torch.allclose(ddp[key], single[key], rtol=RTOL, atol=atol), \
            f'{name}: DDP gradient of {key} differs by {diff:.3g}'


@pytest.mark.parametrize('seeding', ['runner', 'iteration'])
def test_poseur_noise_differs_across_ranks_with_diff_rank_seed(
        seeding, two_process_run):
    _, results = two_process_run
    rank0, rank1 = results['noise'][seeding, True]
    assert not torch.equal(rank0, rank1)
    same0, same1 = results['noise'][seeding, False]
    assert torch.equal(same0, same1)
    assert torch.equal(same0, rank0)  # rank 0 seeds with ``seed`` either way


def test_poseur_config_seeds_ranks_differently(tiny_synthetic, tmp_path):
    assert runner_cfg('poseur', tiny_synthetic,
                      tmp_path).randomness.get('diff_rank_seed') is True
