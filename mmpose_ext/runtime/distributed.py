"""Data-parallel training on CPUs (gloo) with MMEngine's own Runner and
MMDistributedDataParallel.

MMEngine 0.10 supports ``--launcher pytorch`` only on accelerators:
``mmengine.dist.init_dist`` calls ``torch.cuda.set_device(LOCAL_RANK)`` before
it creates the process group, whatever ``env_cfg.dist_cfg.backend`` says (so
``backend='gloo'`` fails too: "Found no NVIDIA driver"), and
``Runner.wrap_model`` gives ``MMDistributedDataParallel``
``device_ids=[LOCAL_RANK]``, which DDP refuses for a CPU module. The Runner is
prepared for the rest: it does not call ``init_dist`` when the default process
group already exists (``Runner.setup_env``), its ``model_wrapper_cfg`` takes
``device_ids``, and its samplers, seeding and collectives pick the CPU for
gloo. So, on a machine where MMEngine would train on the CPU
(``mmengine.device.get_device() == 'cpu'``) under ``--launcher pytorch``:

1. :func:`init_cpu_process_group` creates the default process group with the
   gloo backend from the environment torchrun sets (``MASTER_ADDR``,
   ``MASTER_PORT``, ``RANK``, ``WORLD_SIZE``), with the config's
   ``env_cfg.dist_cfg`` options (``timeout`` in seconds, as MMEngine reads it)
   but its backend;
2. :func:`cpu_model_wrapper_cfg` sets ``model_wrapper_cfg`` to what
   ``Runner.wrap_model`` builds by default (``MMDistributedDataParallel``,
   ``broadcast_buffers=False``, the config's ``find_unused_parameters``) but
   with ``device_ids=None`` (a config's own wrapper keeps its options, only
   ``device_ids`` defaults to None).

Nothing is patched; on CUDA (or NPU/MLU/MUSA) machines none of this runs.
"""
import datetime
import os

import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.device import get_device
from mmengine.registry import MODEL_WRAPPERS
from torch.nn.parallel import DistributedDataParallel

#: the torch.distributed backend used on CPUs
CPU_BACKEND = 'gloo'


def trains_on_cpu(launcher: str) -> bool:
    """Whether ``launcher`` is 'pytorch' and MMEngine would train on the CPU,
    where it cannot set up the process group (``init_dist``) or the model
    wrapper (``device_ids``) itself."""
    return launcher == 'pytorch' and get_device() == 'cpu'


def init_cpu_process_group(cfg: Config) -> None:
    """Create the default gloo process group from torchrun's environment
    variables, with the options of ``cfg.env_cfg.dist_cfg`` (its ``backend``
    and ``init_backend`` aside; ``timeout`` in seconds)."""
    missing = [
        k for k in ('MASTER_ADDR', 'MASTER_PORT', 'RANK', 'WORLD_SIZE')
        if k not in os.environ
    ]
    if missing:
        raise RuntimeError(
            '--launcher pytorch needs the environment torchrun sets; '
            f'missing: {missing}. '
            'Launch with `python -m torch.distributed.run --nproc_per_node '
            'N ...`.')
    options = dict(cfg.get('env_cfg', {}).get('dist_cfg', {}))
    options.pop('backend', None)
    options.pop('init_backend', None)
    if options.get('timeout') is not None:
        options['timeout'] = datetime.timedelta(seconds=options['timeout'])
    torch_dist.init_process_group(
        backend=CPU_BACKEND, init_method='env://', **options)


def cpu_model_wrapper_cfg(cfg: Config) -> Config:
    """Give ``cfg`` a ``model_wrapper_cfg`` that MMDistributedDataParallel
    accepts for a CPU module."""
    wrapper = cfg.get('model_wrapper_cfg')
    if wrapper is None:
        # what Runner.wrap_model builds when there is no model_wrapper_cfg,
        # minus the device
        cfg.model_wrapper_cfg = dict(
            type='MMDistributedDataParallel',
            device_ids=None,
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
        return cfg
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper_type = wrapper['type'] if isinstance(
        wrapper['type'], type) else MODEL_WRAPPERS.get(wrapper['type'])
    if isinstance(wrapper_type, type) and issubclass(wrapper_type,
                                                     DistributedDataParallel):
        wrapper.setdefault('device_ids', None)
    return cfg
