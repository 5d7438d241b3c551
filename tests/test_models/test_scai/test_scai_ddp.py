"""SCAI trains under MMEngine's DDP as it does in one process: 2 CPU processes
(torch.multiprocessing spawn, gloo) run 3 steps of stage 1 (Φ and Γ
alternating) and 3 of stage 2 (C) through
``MMDistributedDataParallel(device_ids=None)`` with ``find_unused_parameters``
as the fixtures configs set it, 2 instances each, and must end with the same
weights on both ranks and as one process on all 4 instances.

Stage 1 needs ``find_unused_parameters=True`` (one of Φ / Γ is idle in each
step); what must hold is that the idle network is left alone as in single-
process training: no gradient, so Adam neither moves it nor counts the step (an
exact-zero gradient would let Adam's momentum move it). Stage 2 runs without
the search, which also shows that no frozen parameter sits in DDP's reducer
without a gradient.
"""
import copy
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from mmengine.config import Config
from mmengine.model import MMDistributedDataParallel
from mmengine.optim import OptimWrapper
from mmpose.registry import MODELS
from scai_testing import small_nets, tiny_scai
from spawn_utils import end_worker, guard_worker

REPO = Path(__file__).resolve().parents[3]
CONFIGS = {
    'phi_gamma':
    REPO / 'configs/scai/scai-pg_td-hm-res18-s16_1xb8-100e_fixtures-64x48.py',
    'correction':
    REPO / 'configs/scai/scai-c_td-hm-res18-s16_1xb8-60e_fixtures-64x48.py'
}
WORLD, BATCH, STEPS, LR = 2, 4, 3, 1e-3


def _train(model, batch, steps, ddp=None):
    """``steps`` train steps with Adam; the trainable weights after each step
    and Adam's step counts."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    optim = OptimWrapper(torch.optim.Adam(trainable, lr=LR))
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    weights = []
    for _ in range(steps):
        (ddp or model).train_step(copy.deepcopy(batch), optim)
        weights.append({
            n: p.detach().clone()
            for n, p in zip(names, trainable)
        })
    counts = {
        n:
        int(optim.optimizer.state[p]['step'])
        if p in optim.optimizer.state else 0
        for n, p in zip(names, trainable)
    }
    return weights, counts


def _worker(rank: int, init_file: str, cases: dict, out: str) -> None:
    guard_worker()  # a hang fails the test with every thread's traceback
    torch.set_num_threads(1)
    dist.init_process_group(
        'gloo', init_method=f'file://{init_file}', rank=rank, world_size=WORLD)
    import mmpose_ext  # noqa: F401  (registers SCAI in this fresh process)
    results = {}
    n = BATCH // WORLD
    for stage, case in cases.items():
        model = MODELS.build(case['cfg'])
        model.load_state_dict(case['state'])
        model.train()
        ddp = MMDistributedDataParallel(
            module=model,
            device_ids=None,
            broadcast_buffers=False,
            find_unused_parameters=case['find_unused_parameters'])
        half = {
            k: v[rank * n:(rank + 1) * n]
            for k, v in case['batch'].items()
        }
        results[stage] = _train(model, half, STEPS, ddp)
        del ddp
    torch.save(results, f'{out}.{rank}')
    # not destroy_process_group: it can deadlock at exit (tests/spawn_utils.py)
    end_worker()


def test_ddp_trains_both_stages_as_one_process(coco_batch, tmp_path):
    batch = {k: v[:BATCH] for k, v in coco_batch.items()}
    cases, single = {}, {}
    for stage in ('phi_gamma', 'correction'):
        torch.manual_seed(0)
        cfg = tiny_scai(
            **small_nets(), train_cfg=dict(stage=stage, alternate=True))
        model = MODELS.build(cfg)
        model.init_weights()
        trainable = {
            n.split('.')[0]
            for n, p in model.named_parameters() if p.requires_grad
        }
        # base frozen
        assert trainable == ({'phi', 'gamma'}
                             if stage == 'phi_gamma' else {'correction'})
        cases[stage] = dict(
            cfg=cfg,
            state=copy.deepcopy(model.state_dict()),
            batch=batch,
            find_unused_parameters=Config.fromfile(str(
                CONFIGS[stage])).find_unused_parameters)
        model.train()
        single[stage] = _train(model, batch, STEPS)
        if stage == 'phi_gamma':
            initial = {
                n: p
                for n, p in cases[stage]['state'].items()
                if n.startswith(('phi.', 'gamma.'))
            }
    assert cases['phi_gamma']['find_unused_parameters'] and not cases[
        'correction']['find_unused_parameters']

    mp.spawn(
        _worker,
        args=(str(tmp_path / 'init'), cases, str(tmp_path / 'out')),
        nprocs=WORLD,
        join=True)
    # ours, above
    ranks = [
        torch.load(f'{tmp_path / "out"}.{r}', weights_only=False)
        for r in range(WORLD)
    ]

    for stage in cases:
        (w0, c0), (w1, c1) = ranks[0][stage], ranks[1][stage]
        ws, cs = single[stage]
        for step in range(STEPS):
            for name in w0[step]:
                # ranks agree
                assert torch.equal(w0[step][name],
                                   w1[step][name]), (stage, step, name)
                torch.testing.assert_close(
                    w0[step][name],
                    ws[step][name],
                    rtol=0,
                    atol=1e-5,
                    msg=lambda m: f'{stage} step {step} {name}: {m}')
        assert c0 == c1 == cs, stage
    # stage 1: Φ steps at iterations 0 and 2, Γ at 1; the idle network is
    # untouched, bit for bit
    weights, counts = ranks[0]['phi_gamma']
    assert {counts[n] for n in counts if n.startswith('phi.')} == {2}
    assert {counts[n] for n in counts if n.startswith('gamma.')} == {1}
    for name in weights[0]:
        if name.startswith('gamma.'):
            assert torch.equal(weights[0][name], initial[name]), name
        else:
            assert torch.equal(weights[1][name], weights[0][name]), name
