"""Make checkpoints written by MMEngine loadable under torch's
``weights_only=True`` default (torch ≥ 2.6).

MMPose's ``tools/train.py --resume`` and ``tools/test.py CONFIG CKPT`` load
with ``torch.load``'s default ``weights_only=True``, which refuses any global
it does not know. An MMEngine checkpoint holds, besides tensors:

- numpy arrays and scalars (dataset metainfo, logged values):
  ``numpy.core.multiarray._reconstruct``, ``numpy.ndarray``, ``numpy.dtype``,
  ``numpy.core.multiarray.scalar``, and the dtype instances' own classes
  (``numpy.dtypes.Float64DType`` …, which the unpickler meets when it restores
  their state);
- ``mmengine.logging.HistoryBuffer`` objects in the message hub;
- ``builtins.getattr``: ``HistoryBuffer.__getstate__`` saves its class-level
  ``_statistics_methods`` dict, whose values are the functions
  ``HistoryBuffer.min/max/current/mean``; pickle protocol 2 (torch's default)
  stores a function with a dotted qualname as
  ``getattr(HistoryBuffer, 'min')``.

``getattr`` itself must not be allow-listed: with it a checkpoint could reach
any attribute of any allow-listed object. Instead the name ``builtins.getattr``
is mapped to :func:`history_buffer_getattr`, which resolves exactly those four
functions and refuses everything else. Nothing here turns ``weights_only`` off,
and importing ``mmpose_ext`` (as ``custom_imports`` does) is all it takes.

Strict loading. MMEngine loads ``load_from`` and ``init_model``'s checkpoint
with ``strict=False``: a checkpoint of another model loads with a warning and
the test then scores AP 0 with exit code 0. Our tools load with
:func:`load_checkpoint_strict` (or :func:`init_model_strict`), which raise
:class:`CheckpointError` listing the first missing, unexpected and
shape-mismatched keys with their counts, and name the file when it is missing,
truncated or corrupt. For MMEngine's runner (``load_from``/``resume``, e.g.
MMPose's ``tools/test.py``), :class:`StrictCheckpointHook` in ``custom_hooks``
does the same without changing MMEngine.
"""
import re
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer
from mmengine.model import is_model_wrapper
from mmengine.runner.checkpoint import CheckpointLoader
from mmpose.registry import HOOKS
from torch import nn

_HISTORY_BUFFER_STATISTICS = ('min', 'max', 'current', 'mean')


def history_buffer_getattr(obj: Any, name: str) -> Any:
    """Unpickling stand-in for ``builtins.getattr`` that only returns
    ``HistoryBuffer``'s statistics methods (what MMEngine's
    ``HistoryBuffer.__getstate__`` pickles); anything else is refused."""
    if obj is HistoryBuffer and name in _HISTORY_BUFFER_STATISTICS:
        return getattr(HistoryBuffer, name)
    raise RuntimeError(
        f'mmpose_ext refuses getattr({obj!r}, {name!r}) while loading a '
        'checkpoint with '
        'weights_only=True: only HistoryBuffer statistics methods are '
        'allow-listed.')


def _numpy_core():
    # numpy < 2 keeps these in numpy.core.multiarray (numpy 2:
    # numpy._core.multiarray)
    try:
        from numpy._core import multiarray
    except ImportError:  # pragma: no cover - numpy 1.x without the alias
        from numpy.core import multiarray
    return multiarray


def _safe_globals() -> list:
    multiarray = _numpy_core()
    core = 'numpy.core.multiarray' if np.__version__.startswith(
        '1.') else 'numpy._core.multiarray'
    return [
        (multiarray._reconstruct, f'{core}._reconstruct'),
        (multiarray.scalar, f'{core}.scalar'),
        (np.ndarray, 'numpy.ndarray'),
        (np.dtype, 'numpy.dtype'),
        (HistoryBuffer, 'mmengine.logging.history_buffer.HistoryBuffer'),
        (history_buffer_getattr, 'builtins.getattr'),
    ] + [(cls, f'numpy.dtypes.{cls.__name__}')
         for cls in _numpy_dtype_classes()]


def _numpy_dtype_classes() -> list:
    """numpy's concrete dtype classes (``numpy.dtypes.Float32DType`` …): plain
    data descriptions."""
    # object arrays: not data, and not needed
    codes = np.typecodes['All'].replace('O', '')
    return sorted({type(np.dtype(code))
                   for code in codes},
                  key=lambda c: c.__name__)


# : (object, name in the checkpoint) pairs registered with
# ``torch.serialization.add_safe_globals``.
SAFE_GLOBALS = _safe_globals()
SAFE_GLOBAL_NAMES = frozenset(name for _, name in SAFE_GLOBALS)


def register_safe_globals() -> None:
    """Allow-list :data:`SAFE_GLOBALS` for ``torch.load(weights_only=True)``
    (idempotent)."""
    torch.serialization.add_safe_globals(SAFE_GLOBALS)


def unsafe_globals(path: Union[str, Path]) -> List[str]:
    """Globals in the checkpoint at ``path`` that are neither torch's own safe
    ones nor ours."""
    found = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    return sorted(set(found) - SAFE_GLOBAL_NAMES)


register_safe_globals()

# ---------------------------------------------------------------------------------------------------------
# Strict loading

# : MMEngine's default key revision: weights saved from a DDP-wrapped model
# carry a ``module.`` prefix.
DEFAULT_REVISE_KEYS = ((r'^module\.', ''), )


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be read, or whose weights do not fit the
    model they are loaded into."""


@dataclass
class KeyMismatch:
    """How a state dict differs from a model's: keys the model has and the
    checkpoint lacks (``missing``), keys the model does not have
    (``unexpected``), and (key, checkpoint shape, model shape) ``shapes``."""
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    shapes: List[Tuple[str, tuple, tuple]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.missing or self.unexpected or self.shapes)

    def describe(self, first: int = 5) -> str:
        """Summarise the mismatch in one line.

        For example ``'3 missing keys (a, b, c), 1 shape mismatch (k:
        checkpoint (17, 64) vs model (14, 64))'``.
        """

        def listed(items: Sequence[str]) -> str:
            more = f', ... {len(items) - first} more' if len(
                items) > first else ''
            return ', '.join(items[:first]) + more

        def count(n: int, what: str) -> str:
            plural = ('es' if what.endswith('ch') and n != 1 else
                      's' if n != 1 else '')
            return f'{n} {what}{plural}'

        parts = []
        if self.missing:
            parts.append(f'{count(len(self.missing), "missing key")} '
                         f'({listed(self.missing)})')
        if self.unexpected:
            parts.append(f'{count(len(self.unexpected), "unexpected key")} '
                         f'({listed(self.unexpected)})')
        if self.shapes:
            shapes = [
                f'{k}: checkpoint {tuple(a)} vs model {tuple(b)}'
                for k, a, b in self.shapes
            ]
            parts.append(
                f'{count(len(shapes), "shape mismatch")} ({listed(shapes)})')
        return ', '.join(parts)


def _is_local(filename: Union[str, Path]) -> bool:
    return '://' not in str(filename)


def verify_checkpoint_file(filename: Union[str, Path]) -> None:
    """Raise :class:`CheckpointError` naming ``filename`` when it is missing or
    empty, or when it is a torch zip archive (``torch.save``'s format since
    torch 1.6) that is truncated or fails its CRC check (torch's own reader
    checks neither: a file with zeroed bytes inside a tensor loads silently).

    Reads the whole file once. Files in torch's legacy (non-zip) format are
    left to the loader.
    """
    path = Path(filename)
    if not path.is_file():
        raise CheckpointError(f'checkpoint {filename} does not exist')
    if path.stat().st_size == 0:
        raise CheckpointError(f'checkpoint {filename} is empty (0 bytes)')
    with open(path, 'rb') as f:
        is_zip_header = f.read(4) == b'PK\x03\x04'
    if not is_zip_header:
        # torch's legacy format (or not a checkpoint at all): the loader's
        # error is wrapped
        return
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise CheckpointError(f'checkpoint {filename} is truncated or corrupt '
                              f'({path.stat().st_size} bytes, '
                              f'zip: {exc}): write or copy it again') from exc
    if bad is not None:
        raise CheckpointError(
            f'checkpoint {filename} is corrupt: its entry {bad!r} fails the '
            'CRC check')


def read_checkpoint(filename: Union[str, Path],
                    map_location: Any = 'cpu') -> dict:
    """Load a checkpoint with MMEngine's loader (local files, URLs, the schemes
    registered with ``CheckpointLoader``); a local file is verified first
    (:func:`verify_checkpoint_file`).

    Raises:
        CheckpointError: naming ``filename``, with the loader's own error
            chained.
    """
    if _is_local(filename):
        verify_checkpoint_file(filename)
    try:
        checkpoint = CheckpointLoader.load_checkpoint(
            str(filename), map_location=map_location, logger='silent')
    except CheckpointError:
        raise
    # torch/pickle/IO errors rarely name the file
    except Exception as exc:  # noqa: BLE001
        raise CheckpointError(f'checkpoint {filename} could not be loaded: '
                              f'{type(exc).__name__}: {exc}') from exc
    if not isinstance(checkpoint, Mapping):
        raise CheckpointError(
            f'checkpoint {filename} holds a {type(checkpoint).__name__}, '
            'not a state dict '
            'or a dict with a "state_dict"')
    return checkpoint


def state_dict_of(
    checkpoint: Mapping,
    revise_keys: Sequence[Tuple[str, str]] = DEFAULT_REVISE_KEYS
) -> 'OrderedDict[str, Any]':
    """The weights in ``checkpoint`` (its ``state_dict`` entry, or itself),
    keys revised with ``(pattern, replacement)`` pairs as MMEngine's loader
    does; torch's version ``_metadata`` is kept."""
    state_dict = checkpoint.get('state_dict', checkpoint)
    metadata = getattr(state_dict, '_metadata', None)
    revised = OrderedDict(state_dict.items())
    for pattern, replacement in revise_keys:
        revised = OrderedDict(
            (re.sub(pattern, replacement, k), v) for k, v in revised.items())
    if metadata is not None:
        revised._metadata = metadata
    return revised


def load_state_dict_strict(model: nn.Module,
                           state_dict: Mapping,
                           source: str = 'state dict') -> None:
    """Load ``state_dict`` into ``model`` (a wrapper's ``.module``) and raise
    :class:`CheckpointError` if any key is missing, unexpected or of another
    shape (``num_batches_tracked`` may be missing, as MMEngine allows).

    Keys are compared after the modules' own load hooks (e.g. MMPose's key
    upgrades) have run, so the model may be partly loaded when this raises: do
    not use it then.
    """
    if is_model_wrapper(model):
        model = model.module
    expected = model.state_dict()
    shapes = [(k, tuple(v.shape), tuple(expected[k].shape))
              for k, v in state_dict.items() if k in expected
              and isinstance(v, torch.Tensor) and v.shape != expected[k].shape]
    wrong_shape = {k for k, _, _ in shapes}
    kept = OrderedDict(
        (k, v) for k, v in state_dict.items() if k not in wrong_shape)
    if getattr(state_dict, '_metadata', None) is not None:
        kept._metadata = state_dict._metadata
    head = getattr(model, 'head', None)
    owner = type(model).__name__ + (f' ({type(head).__name__})' if isinstance(
        head, nn.Module) else '')
    try:
        result = model.load_state_dict(kept, strict=False)
    # a shape mismatch that only appears after a module's own key conversion
    except RuntimeError as exc:
        raise CheckpointError(f'{source} does not fit {owner}: {exc}') from exc
    mismatch = KeyMismatch(
        missing=[
            k for k in result.missing_keys
            if k not in wrong_shape and not k.endswith('num_batches_tracked')
        ],
        unexpected=list(result.unexpected_keys),
        shapes=shapes)
    if mismatch:
        raise CheckpointError(
            f'{source} does not fit {owner} (a checkpoint of another model '
            'or config?): '
            f'{mismatch.describe()}')


def load_checkpoint_strict(
        model: nn.Module,
        filename: Union[str, Path],
        map_location: Any = 'cpu',
        revise_keys: Sequence[Tuple[str, str]] = DEFAULT_REVISE_KEYS) -> dict:
    """MMEngine's ``load_checkpoint(model, filename)`` made strict: every key
    must match in name and shape.

    Returns:
        dict: the checkpoint (its ``meta`` holds e.g. ``dataset_meta``).

    Raises:
        CheckpointError: the file is missing, truncated or corrupt, or its
            weights do not fit ``model`` (the first few missing / unexpected /
            shape-mismatched keys and their counts).
    """
    checkpoint = read_checkpoint(filename, map_location)
    load_state_dict_strict(
        model,
        state_dict_of(checkpoint, revise_keys),
        source=f'checkpoint {filename}')
    return checkpoint


def init_model_strict(config,
                      checkpoint: Optional[Union[str, Path]] = None,
                      device: str = 'cpu') -> nn.Module:
    """MMPose's ``init_model`` with the checkpoint (if any) loaded by
    :func:`load_checkpoint_strict`; the checkpoint's ``meta.dataset_meta`` wins
    over the config's, as in ``init_model``.

    ``cfg_options={}``: without options MMPose 1.3.2's ``init_model`` reads
    ``config.model.backbone``, which a wrapper model (SCAI) lacks; it only
    clears the backbone's ``init_cfg``, which matters to ``init_weights``,
    never called here.
    """
    from mmpose.apis import init_model

    model = init_model(config, None, device='cpu', cfg_options={})
    if checkpoint is not None:
        meta = (load_checkpoint_strict(model, checkpoint).get('meta')
                or {}).get('dataset_meta')
        if meta:
            model.dataset_meta = meta
    return model.to(device).eval()


@HOOKS.register_module()
class StrictCheckpointHook(Hook):
    """Make MMEngine's runner load ``load_from`` (and ``resume``) strictly, as
    :func:`load_checkpoint_strict`.

    MMEngine's ``Runner.load_checkpoint`` has ``strict=False`` and no config
    key to change it; this hook uses the runner's documented
    ``after_load_checkpoint`` point instead (no patching): it loads the weights
    itself with :func:`load_state_dict_strict` and raises
    :class:`CheckpointError` on any mismatch; the runner's own non-strict load
    that follows then has nothing to warn about. ``before_run`` verifies a
    local ``load_from`` file first (truncated or corrupt: an error naming it).
    Use it from a config::

        custom_hooks = [dict(type='StrictCheckpointHook')]

    Args:
        revise_keys: ``(pattern, replacement)`` pairs applied to the
            checkpoint's keys first (the runner's default strips a DDP
            ``module.`` prefix).
    """
    # after other hooks (e.g. EMAHook) have adapted the checkpoint
    priority = 'LOWEST'

    def __init__(self,
                 revise_keys: Sequence[Tuple[str, str]] = DEFAULT_REVISE_KEYS
                 ) -> None:
        self.revise_keys = tuple(tuple(pair) for pair in revise_keys)

    def before_run(self, runner) -> None:
        load_from = runner.cfg.get('load_from')
        if load_from and _is_local(load_from):
            verify_checkpoint_file(load_from)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        source = f'checkpoint {runner.cfg.get("load_from") or "(resumed)"}'
        load_state_dict_strict(
            runner.model,
            state_dict_of(checkpoint, self.revise_keys),
            source=source)
