"""MMPose's own ``tools/train.py`` and ``tools/test.py``, run with this
package's scope known and its config names resolved.

MMPose's scripts parse the config before any plugin is imported, so a config
inheriting ``mmpose_ext::NAME`` stops in MMEngine (``mmengine does not support
to load mmpose_ext config``). Our ``train`` and ``test`` tools import
``mmpose_ext`` first (which lets MMEngine read ``mmpose_ext::`` names and gives
their dicts the ``mmpose_ext`` registry scope), resolve a packaged config name
given in place of a file, and then run MMPose's script as it is: its
``parse_args``, ``merge_args`` and ``main``, with MMPose's arguments. ``mim
train mmpose_ext`` and ``mim test mmpose_ext`` run them too
(``mmpose_ext/.mim/tools/``).
"""
import runpy
import sys
from pathlib import Path

import mmpose

from .cli import resolve_config


def mmpose_script(name: str) -> Path:
    """MMPose's ``tools/NAME.py``: in the installed package
    (``mmpose/.mim/tools``) or a source checkout."""
    package = Path(mmpose.__file__).resolve().parent
    for path in (package / '.mim' / 'tools' / f'{name}.py',
                 package.parent / 'tools' / f'{name}.py'):
        if path.is_file():
            return path
    raise FileNotFoundError(
        f'MMPose tools/{name}.py not found next to {package}')


def load_mmpose_script(name: str) -> dict:
    """The globals of MMPose's ``tools/NAME.py`` (``parse_args``,
    ``merge_args``, ``main``), run as a module that is not ``__main__`` (so
    nothing runs on loading)."""
    return runpy.run_path(
        str(mmpose_script(name)), run_name=f'mmpose_tools_{name}')


def resolve_config_argument(args) -> None:
    """Point ``args.config`` and its place in ``sys.argv`` (which MMPose's
    ``main`` parses again) at the config file of a path or a packaged name
    (``mmpose_ext::demo/NAME.py``, ``demo/NAME.py``).

    Raises ``InputError`` when there is none.
    """
    path = str(resolve_config(args.config))
    if path != args.config:
        sys.argv[sys.argv.index(args.config)] = path
        args.config = path
