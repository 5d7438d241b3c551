"""Our train and test tools run MMPose's own scripts: they are found where
MMPose installs them, and a packaged config name given in their place of the
config becomes its file, in ``sys.argv`` too (MMPose's ``main`` parses it
again)."""
import argparse
import sys

from mmpose_ext.resources import configs_dir
from mmpose_ext.tools.mmpose_scripts import (load_mmpose_script, mmpose_script,
                                             resolve_config_argument)

NAME = 'demo/td-reg_res18_rle-flow-laplace_fixtures-256x192.py'


def test_mmposes_scripts_are_found():
    for name in ('train', 'test'):
        assert mmpose_script(name).name == f'{name}.py'
        tool = load_mmpose_script(name)
        assert {'parse_args', 'merge_args', 'main'} <= set(tool)


def test_a_packaged_config_name_becomes_its_file(monkeypatch):
    argv = ['train.py', '--work-dir', 'w', f'mmpose_ext::{NAME}', '--amp']
    monkeypatch.setattr(sys, 'argv', list(argv))
    args = argparse.Namespace(config=f'mmpose_ext::{NAME}')
    resolve_config_argument(args)
    assert args.config == str(configs_dir() / NAME)
    assert sys.argv == argv[:3] + [args.config, '--amp']
    # a file stays as given
    resolve_config_argument(args)
    assert sys.argv == argv[:3] + [args.config, '--amp']
