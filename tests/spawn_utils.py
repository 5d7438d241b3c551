"""Ending a spawned gloo worker of a test without the exit-time deadlock of
torch's gloo process group.

Destroying a ``ProcessGroupGloo`` (``destroy_process_group``, or at interpreter
exit through a DDP reducer that still holds it) locks its work mutex while
holding the GIL; its run-loop thread may at that moment be freeing a finished
work item whose thread-local state decrefs a Python object, which needs the
GIL. Measured in a fresh clone: the SCAI DDP test's second worker hung there
for good (gdb: main thread in ``~ProcessGroupGloo`` waiting on the mutex,
``pt_gloo_runloop`` in ``~ThreadLocalState`` waiting on the GIL), and
``mp.spawn`` with it.
"""
import faulthandler
import os
import sys

import torch.distributed as dist

# : seconds a worker may take before faulthandler dumps its stacks and kills it
# (the test then fails)
WORKER_TIMEOUT = 240


def guard_worker(timeout: int = WORKER_TIMEOUT) -> None:
    """Call first in a worker: a hang becomes a failure with every thread's
    traceback after ``timeout``."""
    faulthandler.dump_traceback_later(timeout, exit=True)


def end_worker() -> None:
    """Call last in a worker, after its results are written: wait for every
    rank, then leave the process without running destructors (no
    ``destroy_process_group``: see the module docstring).

    Exit code 0.
    """
    dist.barrier()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
