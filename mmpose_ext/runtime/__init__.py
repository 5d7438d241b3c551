"""Run-time set-up around MMEngine's Runner (no model code): CPU data-parallel
training and per-iteration seeding for exact resume.

Import ``mmpose_ext.runtime`` to register :class:`IterationSeedHook`.
"""
from .distributed import (cpu_model_wrapper_cfg, init_cpu_process_group,
                          trains_on_cpu)
from .seeding import IterationSeedHook, iteration_seed

__all__ = [
    'cpu_model_wrapper_cfg', 'init_cpu_process_group', 'trains_on_cpu',
    'IterationSeedHook', 'iteration_seed'
]
