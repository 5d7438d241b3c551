"""Run-time set-up around MMEngine's Runner (no model code)."""
from .distributed import cpu_model_wrapper_cfg, init_cpu_process_group, trains_on_cpu

__all__ = ['cpu_model_wrapper_cfg', 'init_cpu_process_group', 'trains_on_cpu']
