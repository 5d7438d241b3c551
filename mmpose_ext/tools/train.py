"""MMPose's ``tools/train.py``, which also trains data-parallel on CPUs (gloo)
under torchrun.

    python -m mmpose_ext.tools.train CONFIG [MMPose's train.py arguments]
    python -m torch.distributed.run --nproc_per_node 2 \
        -m mmpose_ext.tools.train CONFIG --launcher pytorch

The arguments are MMPose's own: this runs the ``tools/train.py`` installed
with MMPose (its ``parse_args``, ``merge_args`` and ``main``). Whenever
MMEngine can set up the run itself (no launcher, or an accelerator) MMPose's
``main`` runs unchanged. Only with ``--launcher pytorch`` on a machine where
MMEngine would train on the CPU, where MMEngine's ``init_dist`` fails at
``torch.cuda.set_device``, it creates the gloo process group first and gives
MMDistributedDataParallel ``device_ids=None``
(:mod:`mmpose_ext.runtime.distributed`); the Runner then trains as under
MMPose's script (same config merging, ``DefaultSampler`` per rank,
``DistSamplerSeedHook``, checkpoints from rank 0).
"""
import gc
import runpy
import time
from pathlib import Path

import mmpose
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.runner import Runner

# registers our modules and the weights_only allow-list for --resume
import mmpose_ext  # noqa: F401
from mmpose_ext.runtime import (cpu_model_wrapper_cfg, init_cpu_process_group,
                                trains_on_cpu)


def mmpose_train_script() -> Path:
    """MMPose's ``tools/train.py``: in the installed package
    (``mmpose/.mim/tools``) or a source checkout."""
    package = Path(mmpose.__file__).resolve().parent
    for path in (package / '.mim' / 'tools' / 'train.py',
                 package.parent / 'tools' / 'train.py'):
        if path.is_file():
            return path
    raise FileNotFoundError(
        f'MMPose tools/train.py not found next to {package}')


def load_mmpose_train() -> dict:
    """The globals of MMPose's ``tools/train.py`` (``parse_args``,
    ``merge_args``, ``main``), run as a module that is not ``__main__`` (so
    nothing trains on loading)."""
    return runpy.run_path(
        str(mmpose_train_script()), run_name='mmpose_tools_train')


def main() -> None:
    tool = load_mmpose_train()
    args = tool['parse_args']()
    if not trains_on_cpu(args.launcher):
        tool['main']()  # MMPose's script as it is
        return
    # MMPose's main(), with the CPU process group and model wrapper set up
    # before the Runner
    cfg = tool['merge_args'](Config.fromfile(args.config), args)
    if 'preprocess_cfg' in cfg:
        cfg.model.setdefault('data_preprocessor',
                             cfg.get('preprocess_cfg', {}))
    cpu_model_wrapper_cfg(cfg)
    # the Runner, too, keeps a process group it finds
    created = not torch_dist.is_initialized()
    if created:
        init_cpu_process_group(cfg)
    print_log(
        'mmpose_ext.tools.train: no accelerator, '
        f'{torch_dist.get_backend()} process group '
        f'(rank {torch_dist.get_rank()} of {torch_dist.get_world_size()}), '
        f'model wrapper {dict(cfg.model_wrapper_cfg)}',
        logger='current')
    try:
        runner = Runner.from_cfg(cfg)
        runner.train()
        # the DDP reducer holds the process group: free it while the group is
        # still registered
        del runner
        gc.collect()
        if created:
            torch_dist.barrier()
    finally:
        if created:
            # Destroying a gloo group locks its work mutex while holding the
            # GIL; its run-loop thread may still be freeing the last finished
            # work item, which needs the GIL (a deadlock seen in a test's
            # worker). Releasing the GIL briefly lets it finish first.
            time.sleep(0.2)
            torch_dist.destroy_process_group()


if __name__ == '__main__':
    main()
