"""Train and compare pose models under one budget on generated data (``python.

-m mmpose_ext.tools.benchmark``).

``setup`` rewrites a config for the benchmark (data, budget, seed), ``measure``
times and sizes a model, ``report`` writes the JSON/markdown table and plots,
``run`` ties them together with MMEngine's Runner.
"""
from .measure import complexity, cpu_latency, input_size_of
from .report import write_report
from .run import (benchmark_config, evaluate_on, no_skill_row,
                  order_by_dependencies, run_benchmark)
from .setup import (LearningCurveHook, TimeBudgetHook, apply_budget,
                    ensure_hook, evaluator, generated_test_set,
                    point_at_dataset, real_test_set)

__all__ = [
    'complexity', 'cpu_latency', 'input_size_of', 'write_report',
    'benchmark_config', 'run_benchmark', 'no_skill_row',
    'order_by_dependencies', 'evaluate_on', 'LearningCurveHook',
    'TimeBudgetHook', 'apply_budget', 'ensure_hook', 'evaluator',
    'generated_test_set', 'point_at_dataset', 'real_test_set'
]
