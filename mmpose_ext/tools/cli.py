"""What every command-line tool of the package shares: how a config and a
checkpoint are named, and how bad input is reported.

The tools (``train``, ``test``, ``infer``, ``export_onnx``, ``demo`` and the
torch-free ``mmpose_ext_runtime``) take one vocabulary:

- ``CONFIG`` first: a file, or a packaged name (``mmpose_ext::demo/NAME.py``,
  ``demo/NAME.py``, ``mmpose::body_2d_keypoint/...``); then ``CHECKPOINT``, a
  file, where the tool needs weights (``infer``, ``export_onnx``, MMPose's
  ``test``). The runtime's ``MODEL.onnx`` is both in one file.
- ``IMAGES``: an image or a folder; ``mmpose_ext::fixtures/coco`` names the
  bundled COCO images (:mod:`mmpose_ext_runtime.inputs`).
- ``--out DIR`` for the output folder (``train`` keeps MMPose's
  ``--work-dir``, which ``demo`` also accepts), ``--bbox-thr`` / ``--nms-thr``
  for the detections kept (MMPose's demo rule and defaults), ``--kpt-thr``
  for the keypoints drawn, ``--no-draw`` for no drawings.

Bad input (a config, checkpoint, image or folder that is not there, a
checkpoint of another model, pictures none of which can be read) is one line
on stderr, ``TOOL: error: ...``, and exit status 2, without a traceback
(:func:`run_cli`).
"""
import sys
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

from mmpose_ext_runtime.inputs import InputError

__all__ = ['InputError', 'resolve_config', 'resolve_checkpoint', 'run_cli']


def resolve_config(name: Union[str, Path]) -> Path:
    """The config file of a path or a packaged name; :class:`InputError` when
    there is none."""
    from mmpose_ext.resources import config_path

    try:
        return config_path(name)
    except (FileNotFoundError, ModuleNotFoundError) as e:
        raise InputError(str(e)) from None


def resolve_checkpoint(path: Optional[Union[str, Path]]) -> Path:
    """An existing checkpoint file; :class:`InputError` otherwise."""
    if path is None or not Path(path).is_file():
        raise InputError(f'checkpoint not found: {path}')
    return Path(path)


def run_cli(tool: str,
            main: Callable,
            argv: Optional[Sequence[str]] = None) -> int:
    """``main(argv)`` with bad input reported in one line: the exit status (0,
    or 2 after ``TOOL: error: MESSAGE`` on stderr)."""
    from mmpose_ext.checkpoint import CheckpointError

    try:
        main(argv)
    except (InputError, CheckpointError) as e:
        print(f'{tool}: error: {e}', file=sys.stderr)
        return 2
    return 0
