"""``mim train mmpose CONFIG`` with the installed wheel: MMPose's own
tools/train.py trains a packaged config of ours for one iteration on the
bundled fixtures (nothing downloaded)."""
import re
import subprocess

import pytest

from .conftest import clean_env

CONFIG = 'scai/td-hm_res18-s16_1xb8-300e_fixtures-64x48.py'
# One epoch of one batch of two people, no validation, no checkpoint (as
# tests/test_tools/test_make_upstream_project.py); the dataset is the
# config's own, the fixtures inside the installed package.
OPTIONS = [
    'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
    'train_dataloader.persistent_workers=False',
    'train_dataloader.dataset.indices=2', 'train_cfg.max_epochs=1',
    'train_cfg.val_interval=100', 'val_cfg=None', 'val_dataloader=None',
    'val_evaluator=None', 'default_hooks.logger.interval=1',
    'default_hooks.checkpoint.interval=-1',
    'default_hooks.checkpoint.save_last=False', 'load_from=None',
    'randomness.seed=0'
]


@pytest.mark.slow
def test_mim_train_mmpose_trains_a_packaged_config(wheel_venv, tmp_path):
    python = wheel_venv / 'bin' / 'python'
    config = subprocess.run([
        str(python), '-c', 'from mmpose_ext.resources import config_path; '
        f'print(config_path("mmpose_ext::{CONFIG}"))'
    ],
                            capture_output=True,
                            text=True,
                            check=True,
                            cwd=tmp_path,
                            env=clean_env()).stdout.strip()
    assert '/site-packages/mmpose_ext/.mim/configs/' in config
    proc = subprocess.run([
        str(python), '-m', 'mim', 'train', 'mmpose', config, '--gpus', '0',
        '--work-dir',
        str(tmp_path / 'work'), '--cfg-options', *OPTIONS
    ],
                          cwd=tmp_path,
                          capture_output=True,
                          text=True,
                          env=clean_env(TORCH_HOME=str(tmp_path / 'torch')),
                          timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    loss = re.search(r'Epoch\(train\) +\[1\]\[1/1\].*?\bloss: (\S+)', out)
    assert loss, out[-4000:]
    assert float(loss.group(1)) == float(loss.group(1))  # not NaN
