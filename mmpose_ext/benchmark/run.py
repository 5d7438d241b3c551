"""Benchmark one config or a list: generate the data, train each model under
the budget with MMEngine's Runner (validating on the way for a learning curve),
test it on the held-out generated split, the real fixtures and (when generated)
the shifted split, measure it, and write the report; repeat for every seed.

A config may carry a ``benchmark`` dict for methods that are not one plain
training run (SCAI) or that are also tested another way on the same trained
weights (ablations)::

    benchmark = dict(
        # model.base_checkpoint = that row's trained weights
        wraps='td-hm_effnet-lite0_synthetic-128x96',
        # the budget is split evenly over the stages, each a dotted-key
        # override of the config; a stage starts from the previous stage's
        # weights
        stages=[{'model.train_cfg.stage': 'phi_gamma'},
                {'model.train_cfg.stage': 'correction',
                 'optim_wrapper.optimizer.lr': 4.1e-4}],
        # extra metrics on every test set (each with that set's prefix):
        metrics=[dict(type='SCAIFeedbackMetric')],
        # extra rows, the same weights tested otherwise:
        test_variants={
            # model.test_cfg updated
            '+TTA': dict(test_cfg=dict(adapt=dict(enable=True))),
            # model.head.decoder rebuilt
            '+score 1-σ': dict(decoder=dict(type='RegressionLabel', ...))})

(variants apply in their order, each on top of the previous ones).

``wraps`` names a config benchmarked earlier in the same run and seed (its
file stem).
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
from mmpose_ext.resources import config_path
from .measure import complexity, cpu_latency, input_size_of
from .provenance import provenance
from .report import write_report
from .setup import (LearningCurveHook, TimeBudgetHook, apply_budget,
                    ensure_hook, generated_test_set, is_bottomup,
                    point_at_dataset, real_test_set)

#: The metrics kept from each test (after the ``prefix/``).
KEEP = ('AP', 'AP .5', 'AP .75', 'AR', 'PCK@0.1', 'PCK@0.2', 'err/box',
        'LR-swap', 'recall@OKS.5')
#: ... and those of SCAIFeedbackMetric (a config's ``benchmark.metrics``)
KEEP_SCAI = ('distal PCK@0.1', 'distal PCK@0.2', 'frozen distal PCK@0.1',
             'frozen distal PCK@0.2', 'distal err/box',
             'frozen distal err/box', 'r(feedback, error)',
             'rho(feedback, error)', 'r(output)', 'kept', 'adapted',
             'fallback', 'better', 'worse')


def evaluate_on(runner, loader: dict, evaluator) -> Dict[str, float]:
    """Run MMEngine's TestLoop of ``runner``'s (trained, in-memory) model on
    another dataset."""
    runner._test_dataloader, runner._test_evaluator = loader, evaluator
    runner._test_loop = dict(type='TestLoop')
    return runner.test()


def _kept(metrics: dict) -> Dict[str, float]:
    return {
        k: float(v)
        for k, v in metrics.items() if k.split('/', 1)[-1] in KEEP + KEEP_SCAI
    }


def _split(total, parts: int, index: int):
    """The ``index``-th of ``parts`` shares of an iteration (int) or minutes
    (float) budget."""
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


def _train_stages(cfg: Config, plan: dict, work_dir: Path, seed: int,
                  iters: Optional[int], minutes: Optional[float],
                  num_evals: int):
    """Train ``cfg`` through the plan's stages (one stage when it has none);
    return the last runner, the iterations and the seconds spent in all stages,
    the final weights and the learning curve (iterations counted across
    stages)."""
    from mmengine.runner import Runner

    stages = plan.get('stages') or [{}]
    runner, done, seconds, weights, curve = None, 0, 0.0, None, []
    for i, overrides in enumerate(stages):
        stage_iters, stage_minutes = _split(iters, len(stages),
                                            i), _split(minutes, len(stages), i)
        stage_evals = _split(num_evals, len(stages), i) if num_evals else 0
        stage_cfg = copy.deepcopy(cfg)
        stage_cfg.merge_from_dict(dict(overrides))
        stage_dir = work_dir if len(stages) == 1 else work_dir / f'stage{i}'
        apply_budget(
            stage_cfg,
            stage_dir,
            seed,
            stage_iters,
            stage_minutes,
            num_evals=stage_evals)
        stage_cfg.load_from = weights
        # the previous stage's weights must fit this stage's model key for key
        if weights:
            ensure_hook(stage_cfg, 'StrictCheckpointHook')
        stage_cfg.experiment_name = f'{cfg.experiment_name}_stage{i}'
        stage_cfg.visualizer.name = f'benchmark_{stage_cfg.experiment_name}'
        runner = Runner.from_cfg(stage_cfg)
        curve_hook = LearningCurveHook()
        runner.register_hook(curve_hook)
        if stage_minutes is not None:
            runner.register_hook(
                TimeBudgetHook(60.0 * stage_minutes, num_evals=stage_evals))
        t0 = time.perf_counter()
        runner.train()
        # training time: validation excluded
        seconds += time.perf_counter() - t0 - curve_hook.val_seconds
        curve += [
            dict(point, iter=point['iter'] + done)
            for point in curve_hook.curve
        ]
        done += runner.iter
        runner.save_checkpoint(
            str(stage_dir),
            'final.pth',
            save_optimizer=False,
            save_param_scheduler=False,
            by_epoch=False)
        weights = str(stage_dir / 'final.pth')
    return runner, done, seconds, weights, curve


def _apply_variant(model: torch.nn.Module, variant: dict) -> None:
    """Change how ``model`` is tested: ``test_cfg`` updates ``model.test_cfg``,
    ``decoder`` rebuilds the head's codec (e.g. MMPose's 1 − σ score instead of
    the Laplace integral)."""
    from mmpose.registry import KEYPOINT_CODECS

    unknown = set(variant) - {'test_cfg', 'decoder'}
    if unknown:
        raise ValueError(
            f'unknown test variant keys {sorted(unknown)}: use test_cfg '
            'and/or decoder')
    if variant.get('test_cfg'):
        _update(model.test_cfg, dict(variant['test_cfg']))
    if variant.get('decoder'):
        model.head.decoder = KEYPOINT_CODECS.build(dict(variant['decoder']))


def _test_sets(cfg: Config, data_root, real_root: Optional[str],
               layout: str) -> list:
    """(dataloader, evaluator) pairs: the held-out split of ``cfg``, then the
    real images (if ``real_root``) and the shifted generated split (if the data
    has one)."""
    test_sets = [(cfg.test_dataloader, cfg.test_evaluator)]
    if real_root:
        test_sets.append(real_test_set(cfg, real_root, layout))
    shifted = generated_test_set(cfg, data_root, 'val_shifted', 'shifted',
                                 layout)
    if shifted:
        test_sets.append(shifted)
    return test_sets


def benchmark_config(config: str,
                     data_root,
                     real_root: Optional[str],
                     out_dir,
                     seed: int = 0,
                     iters: Optional[int] = None,
                     minutes: Optional[float] = None,
                     layout: str = 'coco',
                     workers: int = 2,
                     batch_size: Optional[int] = None,
                     latency_repeats: int = 5,
                     latency_batches: Sequence[int] = (1, 32),
                     trained: Optional[Dict[str, str]] = None,
                     num_evals: int = 0) -> List[dict]:
    """Train, test and measure one config; returns its rows of the results
    table (one, plus one per ``benchmark.test_variants``).

    ``trained`` maps the names benchmarked so far (this seed) to their final
    weights (a row of this config's is added).
    """
    name = Path(config).stem
    cfg = Config.fromfile(str(config_path(config)))
    plan = dict(cfg.pop('benchmark', None) or {})
    if plan.get('wraps'):
        base = (trained or {}).get(plan['wraps'])
        if base is None:
            raise ValueError(
                f'{name} wraps the model trained by {plan["wraps"]}: list '
                'that config before it '
                f'in the same benchmark run')
        cfg.model.base_checkpoint = base
    point_at_dataset(cfg, data_root, layout, workers, batch_size)
    # every training and test set (--data-root, --real-data may be the user's)
    # is checked once: NaN or another K is an error, what MMPose skips or
    # cannot learn from a warning
    ensure_hook(cfg, 'AnnotationCheckHook')
    cfg.experiment_name = f'{name}_seed{seed}_{time.strftime("%Y%m%d_%H%M%S")}'
    test_sets = _test_sets(cfg, data_root, real_root, layout)
    for _, metrics in test_sets:
        # the plan's extra metrics, with the test set's prefix
        metrics.extend(
            dict(m, prefix=metrics[0]['prefix'])
            for m in plan.get('metrics') or [])

    runner, done, train_s, weights, curve = _train_stages(
        cfg, plan,
        Path(out_dir) / f'seed{seed}' / name, seed, iters, minutes, num_evals)
    if trained is not None:
        trained[name] = weights
    model = getattr(runner.model, 'module', runner.model)
    head = cfg.model.get('head', {}).get('type') or cfg.model.type
    backbone = cfg.model.get('backbone') or cfg.model.get(
        'base_model', {}).get('backbone', {})
    size = input_size_of(cfg)
    base_row = dict(
        seed=seed,
        head=head,
        backbone=backbone.get('arch') or backbone.get('type'),
        input_size=list(size),
        batch_size=cfg.train_dataloader.batch_size,
        iters=done,
        train_s=round(train_s, 1),
        device=str(next(model.parameters()).device),
        wraps=plan.get('wraps'),
        curve=curve)
    base_row.update(complexity(model, size))
    for batch in latency_batches:
        base_row[f'latency_b{batch}_ms'] = cpu_latency(
            model, size, batch, repeats=latency_repeats)

    rows = []
    variants = [('', None)] + list(
        dict(plan.get('test_variants') or {}).items())
    for suffix, variant in variants:
        if variant:
            _apply_variant(model, dict(variant))
        row = dict(name=name + suffix, config=str(config), **base_row)
        for i, (loader, evaluator) in enumerate(test_sets):
            t0 = time.perf_counter()
            row.update(_kept(evaluate_on(runner, loader, evaluator)))
            if i == 0:
                row['test_s'] = round(time.perf_counter() - t0, 1)
        rows.append(row)
    return rows


def no_skill_row(config: str, data_root, real_root: Optional[str], layout: str,
                 work_dir) -> dict:
    """The no-skill row: the training set's mean pose in every test box
    (``MeanPoseBaseline``), scored with the same test sets and metrics as the
    models (the pipeline of ``config``, whose pixels it ignores)."""
    from mmpose_ext.evaluation import evaluate_no_skill

    cfg = Config.fromfile(str(config_path(config)))
    point_at_dataset(cfg, data_root, layout, workers=0)
    test_sets = _test_sets(cfg, data_root, real_root, layout)
    train_ann = str(
        Path(data_root).resolve() / 'annotations' /
        'person_keypoints_train.json')
    row = dict(
        name='no skill (training mean pose in each box)',
        head='MeanPoseBaseline',
        seed=None)
    for loader, evaluator in test_sets:
        row.update(
            _kept(evaluate_no_skill(train_ann, loader, evaluator, work_dir)))
    return row


def order_by_dependencies(configs: Sequence[str]) -> List[str]:
    """``configs`` in their given order, except that a config whose
    ``benchmark.wraps`` names another listed config moves after it (so
    ``configs/synthetic/*.py`` runs the heatmap model before SCAI)."""
    stems = {Path(c).stem: c for c in configs}
    wraps = {}
    for config in configs:
        try:
            cfg = Config.fromfile(str(config_path(config)))
            wraps[config] = (cfg.get('benchmark') or {}).get('wraps')
        except Exception:  # noqa: BLE001
            # a broken config is reported when it is benchmarked
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


def run_benchmark(configs: Sequence[str],
                  out_dir,
                  seeds: Sequence[int] = (0, ),
                  iters: Optional[int] = None,
                  minutes: Optional[float] = None,
                  layout: str = 'coco',
                  data_root=None,
                  num_train: int = 2000,
                  num_val: int = 200,
                  num_val_shifted: int = 0,
                  data_seed: int = 0,
                  real_root: Optional[str] = None,
                  workers: int = 2,
                  batch_size: Optional[int] = None,
                  latency_repeats: int = 5,
                  latency_batches: Sequence[int] = (1, 32),
                  num_evals: int = 0,
                  command: str = '') -> dict:
    """Benchmark every config for every training seed under the same budget and
    data (generated once from ``data_seed``); a config that fails is reported,
    not fatal.

    The first row is the no-skill baseline.
    """
    if not configs:
        raise ValueError('no configs to benchmark')
    out_dir = Path(out_dir)
    data_root = Path(data_root
                     or out_dir / f'data-{layout}-seed{data_seed}-{num_train}')
    t0 = time.perf_counter()
    ensure_dataset(
        data_root,
        num_train=num_train,
        num_val=num_val,
        seed=data_seed,
        layout=layout,
        workers=workers,
        num_val_shifted=num_val_shifted)
    gen_s = time.perf_counter() - t0
    budget = (f'{iters} iterations'
              if iters is not None else f'{minutes} minutes of training')
    meta = dict(
        command=command,
        budget=budget,
        seeds=list(seeds),
        layout=layout,
        # commit, torch, cpu_threads, device
        **provenance(),
        data=f'{num_train} train / {num_val} held-out / {num_val_shifted} '
        'shifted generated images '
        f'(seed {data_seed}, {data_root}), generated in {gen_s:.0f} s (0 if '
        'already there)',
        real_data=str(real_root))
    ordered = order_by_dependencies(configs)
    results: List[dict] = []
    # the mean pose in every ground-truth box: a top-down baseline, scored
    # through the first top-down config's test pipeline (none when every
    # config is bottom-up: their people have no boxes to put it in)
    topdown = [
        c for c in ordered
        if not is_bottomup(Config.fromfile(str(config_path(c))))
    ]
    if topdown:
        try:
            results.append(
                no_skill_row(topdown[0], data_root, real_root, layout,
                             out_dir / 'no_skill'))
        except Exception:  # noqa: BLE001
            # reported in the table like a failing config
            results.append(dict(name='no skill', error=traceback.format_exc()))
    paths = write_report(results, meta, out_dir)
    for seed in seeds:
        trained: Dict[str, str] = {}
        for config in ordered:
            try:
                results += benchmark_config(config, data_root, real_root,
                                            out_dir, seed, iters, minutes,
                                            layout, workers, batch_size,
                                            latency_repeats, latency_batches,
                                            trained, num_evals)
            except Exception:  # noqa: BLE001
                # one broken config must not lose the others' results
                print_log(
                    f'benchmark of {config} (seed {seed}) '
                    f'failed:\n{traceback.format_exc()}',
                    logger='current',
                    level=logging.ERROR)
                results.append(
                    dict(
                        name=Path(config).stem,
                        config=str(config),
                        seed=seed,
                        error=traceback.format_exc()))
            # after every config: a cut-short run keeps its rows
            paths = write_report(results, meta, out_dir)
    return dict(results=results, meta=meta, files=paths)
