"""Make checkpoints written by MMEngine loadable under torch's ``weights_only=True`` default (torch ≥ 2.6).

MMPose's ``tools/train.py --resume`` and ``tools/test.py CONFIG CKPT`` load with ``torch.load``'s default
``weights_only=True``, which refuses any global it does not know. An MMEngine checkpoint holds, besides
tensors:

- numpy arrays and scalars (dataset metainfo, logged values): ``numpy.core.multiarray._reconstruct``,
  ``numpy.ndarray``, ``numpy.dtype``, ``numpy.core.multiarray.scalar``, and the dtype instances' own
  classes (``numpy.dtypes.Float64DType`` …, which the unpickler meets when it restores their state);
- ``mmengine.logging.HistoryBuffer`` objects in the message hub;
- ``builtins.getattr``: ``HistoryBuffer.__getstate__`` saves its class-level ``_statistics_methods``
  dict, whose values are the functions ``HistoryBuffer.min/max/current/mean``; pickle protocol 2 (torch's
  default) stores a function with a dotted qualname as ``getattr(HistoryBuffer, 'min')``.

``getattr`` itself must not be allow-listed: with it a checkpoint could reach any attribute of any
allow-listed object. Instead the name ``builtins.getattr`` is mapped to :func:`history_buffer_getattr`,
which resolves exactly those four functions and refuses everything else. Nothing here turns
``weights_only`` off, and importing ``mmpose_ext`` (as ``custom_imports`` does) is all it takes.
"""
from pathlib import Path
from typing import Any, List, Union

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

_HISTORY_BUFFER_STATISTICS = ('min', 'max', 'current', 'mean')


def history_buffer_getattr(obj: Any, name: str) -> Any:
    """Unpickling stand-in for ``builtins.getattr`` that only returns ``HistoryBuffer``'s statistics
    methods (what MMEngine's ``HistoryBuffer.__getstate__`` pickles); anything else is refused."""
    if obj is HistoryBuffer and name in _HISTORY_BUFFER_STATISTICS:
        return getattr(HistoryBuffer, name)
    raise RuntimeError(
        f'mmpose_ext refuses getattr({obj!r}, {name!r}) while loading a checkpoint with '
        'weights_only=True: only HistoryBuffer statistics methods are allow-listed.')


def _numpy_core():
    # numpy < 2 keeps these in numpy.core.multiarray (numpy 2: numpy._core.multiarray)
    try:
        from numpy._core import multiarray
    except ImportError:  # pragma: no cover - numpy 1.x without the alias
        from numpy.core import multiarray
    return multiarray


def _safe_globals() -> list:
    multiarray = _numpy_core()
    core = 'numpy.core.multiarray' if np.__version__.startswith('1.') else 'numpy._core.multiarray'
    return [
        (multiarray._reconstruct, f'{core}._reconstruct'),
        (multiarray.scalar, f'{core}.scalar'),
        (np.ndarray, 'numpy.ndarray'),
        (np.dtype, 'numpy.dtype'),
        (HistoryBuffer, 'mmengine.logging.history_buffer.HistoryBuffer'),
        (history_buffer_getattr, 'builtins.getattr'),
    ] + [(cls, f'numpy.dtypes.{cls.__name__}') for cls in _numpy_dtype_classes()]


def _numpy_dtype_classes() -> list:
    """numpy's concrete dtype classes (``numpy.dtypes.Float32DType`` …): plain data descriptions."""
    codes = np.typecodes['All'].replace('O', '')  # object arrays: not data, and not needed
    return sorted({type(np.dtype(code)) for code in codes}, key=lambda c: c.__name__)


#: (object, name in the checkpoint) pairs registered with ``torch.serialization.add_safe_globals``.
SAFE_GLOBALS = _safe_globals()
SAFE_GLOBAL_NAMES = frozenset(name for _, name in SAFE_GLOBALS)


def register_safe_globals() -> None:
    """Allow-list :data:`SAFE_GLOBALS` for ``torch.load(weights_only=True)`` (idempotent)."""
    torch.serialization.add_safe_globals(SAFE_GLOBALS)


def unsafe_globals(path: Union[str, Path]) -> List[str]:
    """Globals in the checkpoint at ``path`` that are neither torch's own safe ones nor ours."""
    found = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    return sorted(set(found) - SAFE_GLOBAL_NAMES)


register_safe_globals()
