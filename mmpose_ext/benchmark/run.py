"""Benchmark one config or a list: generate the data, train each model under the budget with MMEngine's
Runner, test it on the generated val split and the real fixtures, measure it, and write the report.

A config may carry a ``benchmark`` dict for methods that are not one plain training run (SCAI):

    benchmark = dict(
        wraps='td-hm_res18_1xb32-30e_synthetic-128x96',  # model.base_checkpoint = that row's trained weights
        stages=[{'model.train_cfg.stage': 'phi_gamma'},   # the budget is split evenly over the stages, each a
                {'model.train_cfg.stage': 'correction',   # dotted-key override of the config; a stage starts
                 'optim_wrapper.optimizer.lr': 4.1e-4}],  # from the previous stage's weights
        test_variants={'+TTA': dict(adapt=dict(enable=True))})  # extra rows: model.test_cfg updated, retested

``wraps`` names a config benchmarked earlier in the same run (its file stem).
"""
import copy
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


def evaluate_on(runner, loader: dict, evaluator: dict) -> Dict[str, float]:
    """Run MMEngine's TestLoop of ``runner``'s (trained, in-memory) model on another dataset."""
    runner._test_dataloader, runner._test_evaluator = loader, evaluator
    runner._test_loop = dict(type='TestLoop')
    return runner.test()


def _split(total, parts: int, index: int):
    """The ``index``-th of ``parts`` shares of an iteration (int) or minutes (float) budget."""
    if total is None:
        return None
    if isinstance(total, int):
        return total // parts + (1 if index < total % parts else 0)
    return total / parts


def _update(target: dict, overrides: dict) -> None:
    """Recursive dict update (``overrides`` wins)."""
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _update(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _train_stages(cfg: Config, plan: dict, work_dir: Path, seed: int, iters: Optional[int],
                  minutes: Optional[float]):
    """Train ``cfg`` through the plan's stages (one stage when it has none); return the last runner, the
    iterations and the seconds spent in all stages."""
    from mmengine.runner import Runner

    stages = plan.get('stages') or [{}]
    runner, done, seconds, weights = None, 0, 0.0, None
    for i, overrides in enumerate(stages):
        stage_iters, stage_minutes = _split(iters, len(stages), i), _split(minutes, len(stages), i)
        stage_cfg = copy.deepcopy(cfg)
        stage_cfg.merge_from_dict(dict(overrides))
        stage_dir = work_dir if len(stages) == 1 else work_dir / f'stage{i}'
        apply_budget(stage_cfg, stage_dir, seed, stage_iters, stage_minutes)
        stage_cfg.load_from = weights
        stage_cfg.experiment_name = f'{cfg.experiment_name}_stage{i}'
        stage_cfg.visualizer.name = f'benchmark_{stage_cfg.experiment_name}'
        runner = Runner.from_cfg(stage_cfg)
        if stage_minutes is not None:
            runner.register_hook(TimeBudgetHook(60.0 * stage_minutes))
        t0 = time.perf_counter()
        runner.train()
        seconds += time.perf_counter() - t0
        done += runner.iter
        runner.save_checkpoint(str(stage_dir), 'final.pth', save_optimizer=False, save_param_scheduler=False,
                               by_epoch=False)
        weights = str(stage_dir / 'final.pth')
    return runner, done, seconds, weights


def benchmark_config(config: str, data_root, real_root: Optional[str], out_dir, seed: int = 0,
                     iters: Optional[int] = None, minutes: Optional[float] = None, layout: str = 'coco',
                     workers: int = 2, batch_size: Optional[int] = None, latency_repeats: int = 5,
                     latency_batches: Sequence[int] = (1, 32),
                     trained: Optional[Dict[str, str]] = None) -> List[dict]:
    """Train, test and measure one config; returns its rows of the results table (one, plus one per
    ``benchmark.test_variants``). ``trained`` maps the names benchmarked so far to their final weights (a row
    of this config's is added)."""
    name = Path(config).stem
    cfg = Config.fromfile(config)
    plan = dict(cfg.pop('benchmark', None) or {})
    if cfg.model.get('backbone', {}).get('init_cfg'):
        cfg.model.backbone.init_cfg = None  # the same from-scratch start for every method
    if plan.get('wraps'):
        base = (trained or {}).get(plan['wraps'])
        if base is None:
            raise ValueError(f'{name} wraps the model trained by {plan["wraps"]}: list that config before it '
                             f'in the same benchmark run')
        cfg.model.base_checkpoint = base
    point_at_dataset(cfg, data_root, layout, workers, batch_size)
    cfg.experiment_name = f'{name}_seed{seed}_{time.strftime("%Y%m%d_%H%M%S")}'
    real = real_test_set(cfg, real_root, layout) if real_root else None

    runner, done, train_s, weights = _train_stages(cfg, plan, Path(out_dir) / name, seed, iters, minutes)
    if trained is not None:
        trained[name] = weights
    model = getattr(runner.model, 'module', runner.model)
    head = cfg.model.get('head', {}).get('type') or cfg.model.type
    backbone = cfg.model.get('backbone') or cfg.model.get('base_model', {}).get('backbone', {})
    size = input_size_of(cfg)
    base_row = dict(head=head, backbone=f"{backbone.get('type')}-{backbone.get('depth', '')}".rstrip('-'),
                    input_size=list(size), batch_size=cfg.train_dataloader.batch_size,
                    iters=done, train_s=round(train_s, 1), device=str(next(model.parameters()).device),
                    wraps=plan.get('wraps'))
    base_row.update(complexity(model, size))
    for batch in latency_batches:
        base_row[f'latency_b{batch}_ms'] = cpu_latency(model, size, batch, repeats=latency_repeats)

    rows = []
    variants = [('', None)] + list(dict(plan.get('test_variants') or {}).items())
    for suffix, test_overrides in variants:
        if test_overrides:
            _update(model.test_cfg, dict(test_overrides))
        row = dict(name=name + suffix, config=str(config), **base_row)
        t0 = time.perf_counter()
        metrics = evaluate_on(runner, cfg.test_dataloader, cfg.test_evaluator)
        row['test_s'] = round(time.perf_counter() - t0, 1)
        if real is not None:
            metrics.update(evaluate_on(runner, *real))
        row.update({k: float(v) for k, v in metrics.items() if k.split('/')[-1] in KEEP})
        rows.append(row)
    return rows


def order_by_dependencies(configs: Sequence[str]) -> List[str]:
    """``configs`` in their given order, except that a config whose ``benchmark.wraps`` names another listed
    config moves after it (so ``configs/synthetic/*.py`` runs the heatmap model before SCAI)."""
    stems = {Path(c).stem: c for c in configs}
    wraps = {}
    for config in configs:
        try:
            wraps[config] = (Config.fromfile(config).get('benchmark') or {}).get('wraps')
        except Exception:  # noqa: BLE001 - a broken config is reported when it is benchmarked
            wraps[config] = None
    ordered: List[str] = []

    def visit(config, seen=()):
        if config in ordered:
            return
        if config in seen:
            raise ValueError(f'benchmark.wraps forms a cycle through {config}')
        dep = stems.get(wraps[config])
        if dep is not None:
            visit(dep, seen + (config, ))
        ordered.append(config)

    for config in configs:
        visit(config)
    return ordered


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
    trained: Dict[str, str] = {}
    for config in order_by_dependencies(configs):
        try:
            results += benchmark_config(config, data_root, real_root, out_dir, seed, iters, minutes, layout,
                                        workers, batch_size, latency_repeats, latency_batches, trained)
        except Exception:  # noqa: BLE001 - one broken config must not lose the others' results
            print_log(f'benchmark of {config} failed:\n{traceback.format_exc()}', logger='current',
                      level=logging.ERROR)
            results.append(dict(name=Path(config).stem, config=str(config), error=traceback.format_exc()))
        paths = write_report(results, meta, out_dir)  # after every config, so a cut-short run keeps its rows
    return dict(results=results, meta=meta, files=paths)
