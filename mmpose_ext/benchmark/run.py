"""Benchmark one config or a list: generate the data, train each model under the budget with MMEngine's
Runner, test it on the generated val split and the real fixtures, measure it, and write the report."""
import logging
import time
import traceback
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.config import Config
from mmengine.logging import print_log

from mmpose_ext.datasets.synthetic import ensure_dataset

from .measure import complexity, cpu_latency, input_size_of
from .report import write_report
from .setup import TimeBudgetHook, apply_budget, point_at_dataset, real_test_set

KEEP = ('AP', 'AP .5', 'AP .75', 'AR')


def _test_on(runner, loader: dict, evaluator: dict) -> Dict[str, float]:
    """Run MMEngine's TestLoop of ``runner``'s (trained, in-memory) model on another dataset."""
    runner._test_dataloader, runner._test_evaluator = loader, evaluator
    runner._test_loop = dict(type='TestLoop')
    return runner.test()


def benchmark_config(config: str, data_root, real_root: Optional[str], out_dir, seed: int = 0,
                     iters: Optional[int] = None, minutes: Optional[float] = None, layout: str = 'coco',
                     workers: int = 2, batch_size: Optional[int] = None, latency_repeats: int = 5,
                     latency_batches: Sequence[int] = (1, 32)) -> dict:
    """Train, test and measure one config; returns one row of the results table."""
    from mmengine.runner import Runner

    name = Path(config).stem
    cfg = Config.fromfile(config)
    if cfg.model.get('backbone', {}).get('init_cfg'):
        cfg.model.backbone.init_cfg = None  # the same from-scratch start for every method
    point_at_dataset(cfg, data_root, layout, workers, batch_size)
    apply_budget(cfg, Path(out_dir) / name, seed, iters, minutes)
    cfg.experiment_name = f'{name}_seed{seed}_{time.strftime("%Y%m%d_%H%M%S")}'
    cfg.visualizer.name = f'benchmark_{cfg.experiment_name}'
    real = real_test_set(cfg, real_root, layout) if real_root else None

    runner = Runner.from_cfg(cfg)
    if minutes is not None:
        runner.register_hook(TimeBudgetHook(60.0 * minutes))
    t0 = time.perf_counter()
    runner.train()
    train_s = time.perf_counter() - t0
    row = dict(name=name, config=str(config), head=cfg.model.head.type,
               backbone=f"{cfg.model.backbone.type}-{cfg.model.backbone.get('depth', '')}".rstrip('-'),
               input_size=list(input_size_of(cfg)), batch_size=cfg.train_dataloader.batch_size,
               iters=runner.iter, train_s=round(train_s, 1), device=str(next(runner.model.parameters()).device))
    metrics = _test_on(runner, cfg.test_dataloader, cfg.test_evaluator)
    if real is not None:
        metrics.update(_test_on(runner, *real))
    row.update({k: float(v) for k, v in metrics.items() if k.split('/')[-1] in KEEP})
    size = input_size_of(cfg)
    row.update(complexity(runner.model, size))
    for batch in latency_batches:
        row[f'latency_b{batch}_ms'] = cpu_latency(runner.model, size, batch, repeats=latency_repeats)
    return row


def run_benchmark(configs: Sequence[str], out_dir, seed: int = 0, iters: Optional[int] = None,
                  minutes: Optional[float] = None, layout: str = 'coco', data_root=None, num_train: int = 2000,
                  num_val: int = 200, real_root: Optional[str] = None, workers: int = 2,
                  batch_size: Optional[int] = None, latency_repeats: int = 5,
                  latency_batches: Sequence[int] = (1, 32), command: str = '') -> dict:
    """Benchmark every config under the same budget and data; a config that fails is reported, not fatal."""
    if not configs:
        raise ValueError('no configs to benchmark')
    out_dir = Path(out_dir)
    data_root = Path(data_root or out_dir / f'data-{layout}-seed{seed}-{num_train}')
    t0 = time.perf_counter()
    ensure_dataset(data_root, num_train=num_train, num_val=num_val, seed=seed, layout=layout, workers=workers)
    gen_s = time.perf_counter() - t0
    budget = f'{iters} iterations' if iters is not None else f'{minutes} minutes'
    meta = dict(command=command, budget=budget, seed=seed, layout=layout, cpu_threads=torch.get_num_threads(),
                device='cuda' if torch.cuda.is_available() else 'cpu', torch=torch.__version__,
                data=f'{num_train} train / {num_val} val generated images ({data_root}), '
                     f'generated in {gen_s:.0f} s (0 if already there)',
                real_data=str(real_root))
    results: List[dict] = []
    for config in configs:
        try:
            results.append(benchmark_config(config, data_root, real_root, out_dir, seed, iters, minutes, layout,
                                            workers, batch_size, latency_repeats, latency_batches))
        except Exception:  # noqa: BLE001 - one broken config must not lose the others' results
            print_log(f'benchmark of {config} failed:\n{traceback.format_exc()}', logger='current',
                      level=logging.ERROR)
            results.append(dict(name=Path(config).stem, config=str(config), error=traceback.format_exc()))
        paths = write_report(results, meta, out_dir)  # after every config, so a cut-short run keeps its rows
    return dict(results=results, meta=meta, files=paths)
