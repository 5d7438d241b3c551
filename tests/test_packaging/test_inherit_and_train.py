"""An MMPose user's path from the wheel: a config of their own that inherits
one of ours by its packaged name (``_base_ = ['mmpose_ext::NAME']``), trained
for one epoch (of one batch) from a folder outside the checkout, with each
documented way: ``mim train mmpose_ext`` and ``python -m
mmpose_ext.tools.train``. Then ``mim test mmpose_ext`` refuses the other
model's checkpoint with the key list (the inherited ``StrictCheckpointHook``).
"""
import subprocess
import textwrap

import pytest
from one_iteration import ONE_ITERATION, first_loss

from .conftest import clean_env

POSEUR = 'mmpose_ext::demo/poseur_res18_fixtures-256x192.py'
RLE = 'mmpose_ext::demo/td-reg_res18_rle-flow-laplace_fixtures-256x192.py'
#: What MMEngine logs when a scope has no registry or is not importable.
FALLBACKS = ('is not installed', 'Failed to import', 'Failed to search')


def _user_config(folder, base: str):
    """The README's example: inherit by name, nothing else of ours."""
    path = folder / 'my_cfg.py'
    path.write_text(
        textwrap.dedent(f'''\
            _base_ = ['{base}']
            custom_imports = dict(imports=['mmpose_ext'],
                                  allow_failed_imports=False)
            '''))
    return path


def _run(venv, args, cwd, timeout=240):
    proc = subprocess.run([str(venv / 'bin' / 'python'), *map(str, args)],
                          cwd=cwd,
                          capture_output=True,
                          text=True,
                          env=clean_env(TORCH_HOME=str(cwd / 'torch')),
                          timeout=timeout)
    return proc, proc.stdout + proc.stderr


def _trained(proc, out):
    assert proc.returncode == 0, out[-4000:]
    first_loss(out)
    assert not [
        line for line in out.splitlines() if any(f in line for f in FALLBACKS)
    ], out[-4000:]


@pytest.mark.slow
def test_inherit_by_name_and_train_with_mim_and_our_tool(wheel_venv, tmp_path):
    poseur = tmp_path / 'poseur'
    poseur.mkdir()
    proc, out = _run(wheel_venv, [
        '-m', 'mim', 'train', 'mmpose_ext',
        _user_config(poseur, POSEUR), '--gpus', '0', '--work-dir',
        poseur / 'work', '--cfg-options', *ONE_ITERATION
    ], poseur)
    _trained(proc, out)
    assert 'site-packages/mmpose_ext/.mim/tools/train.py' in out
    assert 'PoseurHead' in (poseur / 'work' / 'my_cfg.py').read_text()

    rle = tmp_path / 'rle'
    rle.mkdir()
    proc, out = _run(wheel_venv, [
        '-m', 'mmpose_ext.tools.train',
        _user_config(rle, RLE), '--work-dir', rle / 'work', '--cfg-options',
        *ONE_ITERATION, 'default_hooks.checkpoint.save_last=True'
    ], rle)
    _trained(proc, out)
    checkpoint = rle / 'work' / 'epoch_1.pth'
    assert checkpoint.is_file()

    # MMPose's test tool with the RLE checkpoint on the Poseur config
    proc, out = _run(wheel_venv, [
        '-m', 'mim', 'test', 'mmpose_ext', poseur / 'my_cfg.py',
        '--checkpoint', checkpoint, '--work-dir', poseur / 'test'
    ], poseur)
    assert proc.returncode != 0, out[-4000:]
    assert f'test: error: checkpoint {checkpoint} does not fit' in out, (
        out[-4000:])
    assert 'unexpected keys (head.' in out and 'coco/AP' not in out
