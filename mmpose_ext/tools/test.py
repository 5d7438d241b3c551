"""MMPose's ``tools/test.py``, for configs that inherit ours
(``mmpose_ext::NAME``).

    python -m mmpose_ext.tools.test CONFIG CHECKPOINT [MMPose's test.py args]
    mim test mmpose_ext CONFIG --checkpoint CHECKPOINT [...]

The arguments are MMPose's own: this runs the ``tools/test.py`` installed
with MMPose (its ``parse_args``, ``merge_args`` and ``main``) unchanged,
after importing ``mmpose_ext`` (so ``_base_ = ['mmpose_ext::NAME']`` parses
and builds, and MMEngine's checkpoints load under torch's
``weights_only=True``: :mod:`mmpose_ext.tools.mmpose_scripts`). ``CONFIG``
may be a packaged name (``mmpose_ext::demo/NAME.py``). A config or
checkpoint that is not there, or a checkpoint of another model (our configs
carry ``StrictCheckpointHook``), is one line and exit status 2.

``mim test mmpose_ext`` runs this file as a script (mim looks for
``<package>/tools/test.py`` before ``<package>/.mim/tools/test.py``), so its
imports are absolute.
"""
import sys

# registers our modules, the mmpose_ext:: names and scope, and the
# weights_only allow-list
import mmpose_ext  # noqa: F401
from mmpose_ext.checkpoint import CheckpointError
from mmpose_ext.tools.cli import InputError, resolve_checkpoint
from mmpose_ext.tools.mmpose_scripts import (load_mmpose_script,
                                             resolve_config_argument)


def main() -> None:
    """Test as MMPose's ``tools/test.py`` with ``sys.argv``'s arguments.

    Raises ``InputError`` for a missing config or checkpoint and
    ``CheckpointError`` for another model's checkpoint.
    """
    tool = load_mmpose_script('test')
    args = tool['parse_args']()
    resolve_config_argument(args)
    resolve_checkpoint(args.checkpoint)
    tool['main']()


def cli() -> int:
    """:func:`main`; bad input is one line and exit status 2."""
    try:
        main()
    except (InputError, CheckpointError) as e:
        print(f'test: error: {e}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(cli())
