"""A wheel of this checkout, built once per session, installed into a fresh
virtual environment that reuses the project's stack (see
:func:`wheel_venv`)."""
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: What the wheel is built from (copied, so that no build/ is left in the
#: checkout; symlinks are kept as symlinks, as git has them).
SOURCES = ('setup.cfg', 'pyproject.toml', 'MANIFEST.in', 'README.md',
           'LICENSE', 'NOTICE', 'model-index.yml', 'mmpose_ext',
           'mmpose_ext_runtime', 'configs', 'data/fixtures')


def pytest_configure(config):
    config.addinivalue_line(
        'markers', 'slow: the packaging tests that train (about a minute)')


def clean_env(**extra) -> dict:
    """The environment without PYTHON* variables, one thread per process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith('PYTHON')}
    env.update(OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', **extra)
    return env


@pytest.fixture(scope='session')
def wheel(tmp_path_factory) -> Path:
    """``python -m build --wheel --no-isolation`` of a copy of the checkout."""
    root = tmp_path_factory.mktemp('wheel')
    src = root / 'src'
    ignore = shutil.ignore_patterns('__pycache__', '*.pyc', '*.egg-info')
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(
                REPO / name, src / name, symlinks=True, ignore=ignore)
        else:
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, src / name)
    proc = subprocess.run([
        sys.executable, '-m', 'build', '--wheel', '--no-isolation', '-o',
        str(root / 'dist'),
        str(src)
    ],
                          capture_output=True,
                          text=True,
                          env=clean_env(),
                          timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (path, ) = (root / 'dist').glob('mmpose_ext-*.whl')
    return path


@pytest.fixture(scope='session')
def wheel_venv(wheel, tmp_path_factory) -> Path:
    """A fresh venv whose only link to the stack is a ``.pth`` line naming.

    .venv's site-packages, with the wheel installed (``--no-deps``).

    A path line in a ``.pth`` does not run the ``.pth`` files of that
    folder, so .venv's editable mmpose_ext stays invisible there.
    """
    venv = tmp_path_factory.mktemp('venv') / 'env'
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip',
                    str(venv)],
                   check=True,
                   timeout=60)
    python = venv / 'bin' / 'python'
    site = subprocess.run([
        str(python), '-c', 'import sysconfig; '
        'print(sysconfig.get_paths()["purelib"])'
    ],
                          capture_output=True,
                          text=True,
                          check=True).stdout.strip()
    Path(site,
         'mmpose_ext_stack.pth').write_text(sysconfig.get_paths()['purelib'] +
                                            '\n')
    proc = subprocess.run([
        str(python), '-m', 'pip', '--isolated', '--disable-pip-version-check',
        'install', '--no-deps', '--no-index',
        str(wheel)
    ],
                          capture_output=True,
                          text=True,
                          env=clean_env(),
                          timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return venv
