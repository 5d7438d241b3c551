"""MMPose's ``tools/train.py``, for configs that inherit ours
(``mmpose_ext::NAME``), and data-parallel on CPUs (gloo) under torchrun.

    python -m mmpose_ext.tools.train CONFIG [MMPose's train.py arguments]
    mim train mmpose_ext CONFIG [MMPose's train.py arguments]
    python -m torch.distributed.run --nproc_per_node 2 \
        -m mmpose_ext.tools.train CONFIG --launcher pytorch

The arguments are MMPose's own: this runs the ``tools/train.py`` installed
with MMPose (its ``parse_args``, ``merge_args`` and ``main``), after
importing ``mmpose_ext`` (so ``_base_ = ['mmpose_ext::NAME']`` parses and
builds: :mod:`mmpose_ext.tools.mmpose_scripts`). ``CONFIG`` may be a packaged
name (``mmpose_ext::demo/NAME.py``); a missing one is one line and exit
status 2. Whenever
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
import sys
import time

import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.runner import Runner

# registers our modules, the mmpose_ext:: names and scope, and the
# weights_only allow-list for --resume
import mmpose_ext  # noqa: F401
from mmpose_ext.runtime import (cpu_model_wrapper_cfg, init_cpu_process_group,
                                trains_on_cpu)
from .cli import InputError
from .mmpose_scripts import load_mmpose_script, resolve_config_argument


def main() -> None:
    """Train as MMPose's ``tools/train.py`` with ``sys.argv``'s arguments.

    Raises ``InputError`` when the config is neither a file nor a packaged
    name.
    """
    tool = load_mmpose_script('train')
    args = tool['parse_args']()
    resolve_config_argument(args)
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


def cli() -> int:
    """:func:`main`; a config that is not there is one line and exit status
    2."""
    try:
        main()
    except InputError as e:
        print(f'train: error: {e}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(cli())
