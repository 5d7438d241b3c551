"""Checkpoint round-trip with MMPose's own tools under torch's
``weights_only=True`` default:

tools/train.py → tools/train.py --resume → tools/test.py CKPT, on the bundled
images.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import mmpose
import pytest
import torch

from mmpose_ext.checkpoint import (SAFE_GLOBAL_NAMES, SAFE_GLOBALS,
                                   history_buffer_getattr, unsafe_globals)

REPO = Path(__file__).resolve().parents[1]
TOOLS = Path(mmpose.__file__).parent / '.mim' / 'tools'
CONFIG = REPO / ('configs/demo/td-reg_res18_rle-flow-laplace_fixtures-'
                 '256x192.py')
# Smallest schedule that still writes a checkpoint MMEngine can resume from: 1
# epoch, then 2.
SHORT = [
    'param_scheduler.1.T_max=2', 'param_scheduler.1.end=2',
    'default_hooks.checkpoint.interval=1', 'train_cfg.val_interval=100'
]


def _run(*args, cwd):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, *map(str, args)],
                          cwd=cwd,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=600)
    assert proc.returncode == 0, (f'{args[0]} failed:'
                                  f'\n{proc.stdout[-3000:]}\n'
                                  f'{proc.stderr[-3000:]}')
    return proc.stdout + proc.stderr


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    work = tmp_path_factory.mktemp('ckpt')
    _run(
        TOOLS / 'train.py',
        CONFIG,
        '--work-dir',
        work,
        '--cfg-options',
        'train_cfg.max_epochs=1',
        *SHORT,
        cwd=work)
    # max_keep_ckpts=1: the resume test deletes epoch_1.pth when it writes
    # epoch_2.pth, so the refusal test reads this copy.
    (work / 'rle_epoch_1.pth').write_bytes((work / 'epoch_1.pth').read_bytes())
    return work


def _in_plain_python(code: str, path: Path) -> subprocess.CompletedProcess:
    """Run ``code`` (with ``path`` as ``p``) in a Python that has NOT imported
    mmpose_ext."""
    return subprocess.run(
        [sys.executable, '-c', f'import torch; p = {str(path)!r}\n{code}'],
        capture_output=True,
        text=True,
        timeout=120)


def test_checkpoint_holds_only_allow_listed_globals(trained):
    ckpt = trained / 'epoch_1.pth'
    # What torch itself finds unsafe, seen from a Python without our
    # allow-list:
    probe = _in_plain_python(
        'print(*torch.serialization.get_unsafe_globals_in_checkpoint(p))',
        ckpt)
    found = set(probe.stdout.split())
    assert {
        'numpy.ndarray', 'mmengine.logging.history_buffer.HistoryBuffer',
        'builtins.getattr'
    } <= found, probe.stdout + probe.stderr
    assert found <= SAFE_GLOBAL_NAMES, ('not allow-listed: '
                                        f'{found - SAFE_GLOBAL_NAMES}')
    assert unsafe_globals(ckpt) == []
    # the real getattr is never allow-listed: its name maps to a stand-in that
    # resolves 4 functions
    assert all(obj is not getattr for obj, _ in SAFE_GLOBALS)
    # without mmpose_ext a weights_only load fails; with it (this process) it
    # works
    plain = _in_plain_python('torch.load(p, weights_only=True)', ckpt)
    assert plain.returncode != 0 and 'Weights only load failed' in plain.stderr
    loaded = torch.load(ckpt, weights_only=True)
    assert {'state_dict', 'meta', 'message_hub', 'optimizer'} <= set(loaded)
    assert loaded['message_hub']['log_scalars']['train/lr'].mean() > 0


def test_resume_then_test(trained):
    log = _run(
        TOOLS / 'train.py',
        CONFIG,
        '--work-dir',
        trained,
        '--resume',
        '--cfg-options',
        'train_cfg.max_epochs=2',
        *SHORT,
        cwd=trained)
    assert re.search(r'resumed epoch: 1, iter: \d+', log), log[-3000:]
    assert (trained / 'epoch_2.pth').exists()
    log = _run(
        TOOLS / 'test.py',
        CONFIG,
        trained / 'epoch_2.pth',
        '--work-dir',
        trained,
        cwd=trained)
    match = re.search(r'coco/AP: (-?[\d.]+)', log)
    assert match, log[-3000:]
    assert 0.0 <= float(match.group(1)) <= 1.0


def test_mmposes_test_tool_refuses_another_models_checkpoint(trained):
    """``mim test mmpose CONFIG --checkpoint CKPT`` (MMPose's tools/test.py)
    with the RLE-flow checkpoint on the Poseur config: the config's
    StrictCheckpointHook stops it with the keys (before: a warning, AP 0 and
    "Testing finished successfully")."""
    poseur = REPO / 'configs/demo/poseur_res18_fixtures-256x192.py'
    proc = subprocess.run([
        sys.executable, '-m', 'mim', 'test', 'mmpose',
        str(poseur), '--checkpoint',
        str(trained / 'rle_epoch_1.pth'), '--work-dir',
        str(trained / 'wrong')
    ],
                          cwd=trained,
                          env=dict(os.environ, PYTHONPATH=str(REPO)),
                          capture_output=True,
                          text=True,
                          timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert re.search(
        r'CheckpointError: checkpoint .*rle_epoch_1.pth does not fit .*: \d+ '
        r'missing keys \(neck\..*\), \d+ unexpected keys \(head\.', out), (
            out[-3000:])
    assert 'coco/AP' not in out


def test_getattr_stand_in_refuses_everything_else():
    from mmengine.logging import HistoryBuffer
    assert history_buffer_getattr(HistoryBuffer, 'mean') is HistoryBuffer.mean
    for obj, name in [(HistoryBuffer, '__init__'),
                      (HistoryBuffer, '__class__'), (os, 'system'),
                      (torch, 'load')]:
        with pytest.raises(RuntimeError, match='refuses'):
            history_buffer_getattr(obj, name)
