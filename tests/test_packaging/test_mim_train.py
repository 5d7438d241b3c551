"""``mim train mmpose CONFIG`` with the installed wheel: MMPose's own
tools/train.py trains a packaged config of ours for one iteration on the
bundled fixtures (nothing downloaded)."""
import subprocess

import pytest
from one_iteration import ONE_ITERATION, first_loss

from .conftest import clean_env

# Its dataset is the fixtures inside the installed package.
CONFIG = 'scai/td-hm_res18-s16_1xb8-300e_fixtures-64x48.py'


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
        str(tmp_path / 'work'), '--cfg-options', *ONE_ITERATION
    ],
                          cwd=tmp_path,
                          capture_output=True,
                          text=True,
                          env=clean_env(TORCH_HOME=str(tmp_path / 'torch')),
                          timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    first_loss(out)
