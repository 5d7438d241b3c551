"""The wheel works without the checkout: it carries the configs, the model
index, the bundled fixtures and mim's tool scripts under ``mmpose_ext/.mim``
(real files), and a fresh venv with only the wheel installed finds them from
any directory."""
import json
import subprocess
import textwrap
import zipfile
from pathlib import Path

import pytest

from .conftest import REPO, clean_env

MIM = 'mmpose_ext/.mim/'
POSEUR = 'poseur/poseur_res50_8xb32-325e_coco-256x192.py'


def run(venv: Path, args, cwd: Path, timeout: int):
    proc = subprocess.run([str(venv / 'bin' / 'python'), *args],
                          cwd=cwd,
                          capture_output=True,
                          text=True,
                          env=clean_env(),
                          timeout=timeout)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    return out


def test_wheel_carries_configs_data_and_licences(wheel):
    with zipfile.ZipFile(wheel) as zf:
        infos = {i.filename: i for i in zf.infolist()}
    expected = [
        MIM + 'configs/' + p.relative_to(REPO / 'configs').as_posix()
        for p in (REPO / 'configs').rglob('*') if p.suffix in ('.py', '.yml')
    ] + [
        MIM + 'data/fixtures/' +
        p.relative_to(REPO / 'data/fixtures').as_posix()
        for p in (REPO / 'data/fixtures').rglob('*') if p.is_file()
    ] + [MIM + 'model-index.yml', MIM + 'tools/train.py']
    assert len(expected) > 50
    missing = [name for name in expected if name not in infos]
    assert not missing, missing
    for name in expected:  # files, not symlinks (S_IFLNK in the mode bits)
        assert (infos[name].external_attr >> 16) & 0o170000 != 0o120000
        assert infos[name].file_size > 0, name
    licences = {Path(n).name for n in infos if '.dist-info/licenses/' in n}
    assert licences == {'LICENSE', 'NOTICE'}
    # nothing generated or from outside the package
    assert all(
        n.startswith(('mmpose_ext/', 'mmpose_ext_runtime/', 'mmpose_ext-'))
        for n in infos)
    assert not [n for n in infos if 'synthetic-' in n and '/data/' in n]


CHILD = textwrap.dedent('''
    import os, sys, sysconfig
    from pathlib import Path

    import mmpose_ext
    from mmpose_ext import resources

    site = Path(sysconfig.get_paths()['purelib']).resolve()
    assert Path(mmpose_ext.__file__).resolve().parent == site / 'mmpose_ext'
    assert resources.package_root() == site / 'mmpose_ext'
    # .venv's editable install is not visible here
    assert not any('__editable__' in m for m in sys.modules), sys.modules
    assert sys.argv[1] not in map(os.path.realpath, sys.path), sys.path

    from mmengine.config import Config
    from mmengine.hub import get_config
    from mmpose.apis import init_model

    # a config of the user's that inherits a packaged one
    Path('user_cfg.py').write_text(
        "_base_ = ['mmpose_ext::{poseur}']\\n"
        "model = dict(head=dict(num_dec_layer=2))\\n")
    cfg = Config.fromfile('user_cfg.py')
    assert cfg.model.type == 'TopdownPoseEstimator', cfg.model
    assert cfg.model.head.type == 'PoseurHead'
    assert cfg.model.head.num_dec_layer == 2
    assert get_config('mmpose_ext::{poseur}').model.head.type == 'PoseurHead'
    path = resources.config_path('mmpose_ext::{poseur}')
    assert path.is_file() and str(path).startswith(str(site)), path
    model = init_model(str(path), device='cpu')
    assert type(model.head).__name__ == 'PoseurHead'
    # the configs' {{{{ fileDirname }}}}/../../data/fixtures resolve in .mim
    cfg = Config.fromfile(str(resources.config_path(
        'scai/td-hm_res18-s16_1xb8-300e_fixtures-64x48.py')))
    assert Path(cfg.ann_file).is_file(), cfg.ann_file
    assert Path(cfg.ann_file).resolve().is_relative_to(site), cfg.ann_file
    assert (resources.fixtures_dir('coco') / 'test_coco.json').is_file()
    # the tools' packaged image names, found beside the runtime package
    from mmpose_ext_runtime.inputs import fixtures_root, list_images
    assert fixtures_root() == resources.fixtures_dir(), fixtures_root()
    assert len(list_images('mmpose_ext::fixtures/coco').images) == 4
    assert (resources.mim_dir() / 'model-index.yml').is_file()
    print('CHILD OK')
''').format(poseur=POSEUR)


def test_installed_wheel_finds_its_configs_outside_the_checkout(
        wheel_venv, tmp_path):
    out = run(wheel_venv, ['-c', CHILD, str(REPO)], tmp_path, 120)
    assert 'CHILD OK' in out


@pytest.mark.slow
def test_installed_wheel_runs_the_demo_for_one_epoch(wheel_venv, tmp_path):
    """``python -m mmpose_ext.tools.demo`` at toy scale (the packaged default
    config, generated data and outputs under the working directory), then the
    README's infer, export and runtime commands on its checkpoint and
    export."""
    run(wheel_venv, [
        '-m', 'mmpose_ext.tools.demo', '--epochs', '1', '--num-train', '6',
        '--num-val', '3'
    ], tmp_path, 300)
    work = tmp_path / 'outputs' / 'demo'
    summary = json.loads((work / 'summary.json').read_text())
    assert summary['config'].startswith('mmpose_ext::demo/')
    assert summary['train_iterations'] >= 1
    assert (tmp_path / 'data/synthetic-demo/meta.json').is_file()
    assert Path(summary['checkpoint']).name == 'epoch_1.pth'
    assert (work / 'epoch_1.pth').is_file()
    assert (work / 'model.onnx').is_file()
    vis = [Path(v['file']) for v in summary['visualisations']]
    assert len(vis) == 2 and all((tmp_path / v).is_file() for v in vis)
    assert summary['onnx_runtime']['instances'] == 12
    # nothing written into the installed package
    site = wheel_venv / 'lib'
    assert not list(site.rglob('synthetic-demo'))
    # the README's commands after the demo, as written (but epoch 1), with
    # the packaged config and image names
    config = 'mmpose_ext::demo/td-hm_effnet-lite0_synthetic-128x96.py'
    fixtures = 'mmpose_ext::fixtures/coco'
    dets = fixtures + '/test_coco_det_AP_H_56.json'
    out = run(wheel_venv, [
        '-m', 'mmpose_ext.tools.infer', config, 'outputs/demo/epoch_1.pth',
        fixtures, '--bboxes', dets, '--out', 'outputs/infer'
    ], tmp_path, 300)
    assert '19 people on 4 images' in out, out[-2000:]
    assert len(list((tmp_path / 'outputs/infer/vis').glob('*.jpg'))) == 4
    out = run(wheel_venv, [
        '-m', 'mmpose_ext.tools.export_onnx', config,
        'outputs/demo/epoch_1.pth', '--out', 'outputs/onnx', '--decode'
    ], tmp_path, 300)
    assert 'weights outputs/demo/epoch_1.pth' in out, out[-2000:]
    assert (tmp_path / 'outputs/onnx/model_decoded.onnx').is_file()
    out = run(wheel_venv, [
        '-m', 'mmpose_ext_runtime', 'outputs/demo/model.onnx', fixtures,
        '--bboxes', fixtures + '/test_coco.json', '--out', 'outputs/runtime'
    ], tmp_path, 120)
    assert out.startswith('12 instances in 4 images'), out[-2000:]
