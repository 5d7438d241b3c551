"""``python -m mmpose_ext.tools.make_upstream_project``: what each assembled
MMPose project holds, and MMPose's own ``tools/train.py`` training it for one
iteration on the bundled images with ``mmpose_ext`` unimportable."""
import ast
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import mmpose
import pytest
from mmengine.config import Config
from one_iteration import ONE_ITERATION, first_loss

from mmpose_ext.tools.make_upstream_project import (PROJECTS, Source, assemble,
                                                    main, relative_import,
                                                    split_string_line,
                                                    wrap_line, write)

REPO = Path(__file__).resolve().parents[2]
TRAIN = Path(mmpose.__file__).parent / '.mim' / 'tools' / 'train.py'
FIXTURES = REPO / 'data' / 'fixtures' / 'coco'

# Modules each copy must hold (paths in projects/NAME/).
EXPECTED = {
    'poseur': {
        'models/poseur/poseur_head.py',
        'models/poseur/query_decoder.py',
        'models/common/emsda.py',
        'models/common/rle_flow_loss.py',
        'models/common/laplace_scorer.py',
        'models/common/finite.py',
        # registered types the COCO configs name
        'models/datasets/transforms/ellipse_cutout.py',
        'models/runtime/seeding.py'
    },
    'tokenpose': {
        'models/tokenpose/tokenpose_head.py',
        'models/tokenpose/tokenpose_l_head.py',
        'models/tokenpose/tokenpose_stem.py',
        'models/tokenpose/image_input.py', 'models/tokenpose/transformer.py',
        'models/common/finite.py', 'models/common/keypoint_count.py'
    },
    'coord_cls': {
        'models/coord_cls/dcc.py', 'models/coord_cls/mle_loss.py',
        'models/coord_cls/sine_cc_head.py',
        'models/coord_cls/rtmo_sine_cc_head.py',
        'models/common/laplace_scorer.py', 'models/common/precision.py'
    },
    'scai': {
        'models/scai/scai_estimator.py', 'models/scai/networks.py',
        'models/scai/losses.py', 'models/scai/chains.py',
        'models/scai/adaptation.py', 'models/checkpoint.py',
        'models/common/finite.py'
    },
}
# Never in any copy: our tools and everything that is not model code.
UNRELATED = ('tools/', 'deploy', 'benchmark', 'synthetic', 'evaluation/',
             'visualization', 'backbones/', 'runtime/distributed',
             'datasets/checks')
# The smallest config of each project, made tiny on the command line.
TINY = {
    'poseur': (
        'poseur_res50_8xb32-325e_coco-256x192.py',
        [
            'model.backbone.init_cfg=None',
            'model.backbone.depth=18',
            'model.neck.in_channels=[64,128,256,512]',
            # fp32: MMEngine's AmpOptimWrapper needs an accelerator
            'optim_wrapper._delete_=True',
            'optim_wrapper.type=OptimWrapper',
            'optim_wrapper.optimizer.type=AdamW',
            'optim_wrapper.optimizer.lr=0.001',
            'optim_wrapper.paramwise_cfg.custom_keys.sampling_offsets.'
            'lr_mult=0.1'
        ]),
    'tokenpose': ('tokenpose-t_image-patch_4xb32-300e_coco-256x192.py', []),
    'coord_cls': ('sinecc_res50_8xb64-210e_coco-256x192.py', [
        'model.backbone.init_cfg=None', 'model.backbone.depth=18',
        'model.head.in_channels=512'
    ]),
    'scai':
    ('scai-pg_td-hm-res50_1xb32-20e_coco-256x192.py',
     ['model.base_checkpoint=None',
      'model.base_model.backbone.init_cfg=None']),
}
# One epoch of one batch of two people from the bundled images, no
# validation, no checkpoint, nothing downloaded.
COMMON = [
    f'train_dataloader.dataset.data_root={FIXTURES}/',
    'train_dataloader.dataset.ann_file=test_coco.json',
    'train_dataloader.dataset.data_prefix.img=', *ONE_ITERATION
]
# Runs MMPose's train.py in a Python where mmpose_ext cannot be imported and
# no connection can be opened.
CHILD = textwrap.dedent('''
    import importlib.abc
    import os
    import runpy
    import socket
    import sys


    class BlockMmposeExt(importlib.abc.MetaPathFinder):

        def find_spec(self, name, path=None, target=None):
            if name == 'mmpose_ext' or name.startswith('mmpose_ext.'):
                raise ImportError(f'{name} is blocked in this test')


    sys.meta_path.insert(0, BlockMmposeExt())
    try:
        import mmpose_ext  # noqa: F401
    except ImportError:
        print('CHILD: mmpose_ext is not importable')
    else:
        sys.exit('CHILD: mmpose_ext is importable')


    def no_network(*args, **kwargs):
        raise OSError('no network in this test')


    socket.socket.connect = no_network
    train, *args = sys.argv[1:]
    sys.argv = [train, *args]
    runpy.run_path(train, run_name='__main__')
    copies = {m.__file__ for n, m in sys.modules.items()
              if n.startswith('projects.') and getattr(m, '__file__', None)}
    assert copies and all(f.startswith(os.getcwd()) for f in copies), copies
    assert not [n for n in sys.modules if n.split('.')[0] == 'mmpose_ext']
    print(f'CHILD: {len(copies)} modules of the copy imported')
''')


@pytest.fixture(scope='module')
def source():
    return Source()


@pytest.fixture(scope='module')
def assemblies(source):
    return {name: assemble(name, source) for name in PROJECTS}


@pytest.mark.parametrize('name', PROJECTS)
def test_closure_holds_the_project_and_nothing_unrelated(assemblies, name):
    assembly = assemblies[name]
    files = set(assembly.files)
    assert EXPECTED[name] <= files, EXPECTED[name] - files
    others = [p for p in PROJECTS if p != name]
    for path in files:
        assert not any(f'/{other}/' in path for other in others), path
        assert not any(word in path for word in UNRELATED), path
    # the method's package is copied whole; shared packages only in part
    package = REPO / 'mmpose_ext' / 'models' / name
    copied = {Path(p).name for p in files if p.startswith(f'models/{name}/')}
    imported = {
        f'{n.module}.py'
        for n in ast.parse((package / '__init__.py').read_text()).body
        if isinstance(n, ast.ImportFrom)
    }
    assert imported | {'__init__.py'} <= copied
    assert 'models/__init__.py' in files
    readme = REPO / 'projects' / name / 'README.md'
    assert ('README.md' in files) == readme.is_file()


def test_scai_does_not_pull_in_poseur_code(assemblies):
    # it imports check_finite from models/common, whose __init__ also exports
    # EMSDA and RLEFlowLoss: only the defining module is followed
    files = set(assemblies['scai'].files)
    assert 'models/common/emsda.py' not in files
    assert 'models/common/rle_flow_loss.py' not in files
    common = assemblies['scai'].files['models/common/__init__.py']
    assert 'EMSDA' not in common and 'check_finite' in common


@pytest.mark.parametrize('name', PROJECTS)
def test_copies_name_no_mmpose_ext_and_compile(assemblies, source, name):
    assembly = assemblies[name]
    for path, text in assembly.files.items():
        if path.endswith(('.py', '.yml')):
            assert 'mmpose_ext' not in text, path
            assert text.startswith('# Generated by mmpose-ext'), path
        if path.endswith('.py'):
            compile(text, path, 'exec')
    init = assembly.files['models/__init__.py']
    tree = ast.parse(init)
    exported = ast.literal_eval(
        [n for n in tree.body if isinstance(n, ast.Assign)][0].value)
    # every type the configs name and we register is imported by models/
    named = set()
    for path, text in assembly.files.items():
        if path.startswith('configs/') and path.endswith('.py'):
            named |= set(re.findall(r"type='(\w+)'", text))
    ours = named & set(source.registered)
    assert ours and ours <= set(exported), ours - set(exported)


@pytest.mark.parametrize('name', PROJECTS)
def test_configs_import_the_copy(assemblies, name):
    assembly = assemblies[name]
    source_configs = sorted(
        p.name for p in (REPO / 'configs' / name).glob('*.py'))
    left_out = {Path(p).name for p in assembly.left_out}
    assert sorted(assembly.configs) == sorted(set(source_configs) - left_out)
    for config in assembly.configs:
        text = assembly.files[f'configs/{config}']
        if 'custom_imports' in text:
            assert f"imports=['projects.{name}.models']" in text, config
    if name == 'scai':
        # the bundled-fixtures configs read data/ of this repository
        assert left_out and all('fixtures' in p for p in left_out)
    else:
        assert not left_out


def test_rewriting_helpers():
    # from models/scai/scai_estimator.py to models/checkpoint.py
    assert relative_import(('scai', ), ('checkpoint', )) == '..checkpoint'
    assert relative_import(('poseur', ), ('poseur', 'x')) == '.x'
    assert relative_import(('a', 'b'), ('c', )) == '...c'
    long = ("        f'projects.scai.models refuses getattr({obj!r}, "
            "{name!r}) while loading a '\n")
    split = split_string_line(long)
    assert split.splitlines() == [
        "        f'projects.scai.models refuses getattr({obj!r}, {name!r}) "
        "while '", "        'loading a '"
    ]
    assert split_string_line('    x = f(a, b)  # ' + 'y' * 80) is None
    # a docstring line keeps its indentation, a comment its '#'
    line = '    ' + 'word ' * 17 + 'projects.poseur.models.common.X\n'
    assert all(len(part) <= 79 for part in wrap_line(line, None).splitlines())
    assert wrap_line(line, '    # ').splitlines()[1].startswith('    # ')


def test_cli_help_and_errors(tmp_path, capsys):
    proc = subprocess.run([
        sys.executable, '-m', 'mmpose_ext.tools.make_upstream_project',
        '--help'
    ],
                          cwd=REPO,
                          capture_output=True,
                          text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert 'projects/NAME' in proc.stdout and 'poseur' in proc.stdout

    assert main(['nope', str(tmp_path)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith('make_upstream_project: error: unknown project')
    assert '\n' not in error

    assert main(['tokenpose', str(tmp_path)]) == 0
    assert main(['tokenpose', str(tmp_path)]) == 2  # not empty
    assert '--force' in capsys.readouterr().err
    (tmp_path / 'projects' / 'tokenpose' / 'stale.py').write_text('')
    assert main(['tokenpose', str(tmp_path), '--force']) == 0
    assert not (tmp_path / 'projects' / 'tokenpose' / 'stale.py').exists()


@pytest.mark.parametrize('name', PROJECTS)
def test_in_repo_project_configs_are_the_method_configs(name):
    link = REPO / 'projects' / name / 'configs'
    assert link.is_symlink()
    assert os.readlink(link) == f'../../configs/{name}'
    config = sorted(link.glob('*.py'))[0]
    cfg = Config.fromfile(str(config))
    assert cfg.filename == str(config)


def test_fixture_paths_resolve_through_the_symlink():
    # {{ fileDirname }} is the symlink's folder; the OS resolves '..' from
    # the link's target, so the bundled data is found
    cfg = Config.fromfile(
        str(REPO / 'projects/scai/configs/'
            'td-hm_res18-s16_1xb8-300e_fixtures-64x48.py'))
    assert '/projects/scai/configs/' in cfg.ann_file
    assert Path(cfg.ann_file).is_file()
    assert Path(cfg.ann_file).resolve() == FIXTURES / 'test_coco.json'


@pytest.mark.skipif(not TRAIN.is_file(), reason=f'{TRAIN} not installed')
@pytest.mark.parametrize('name', PROJECTS)
def test_mmpose_train_tool_trains_the_assembled_project(
        assemblies, name, tmp_path):
    root = tmp_path / 'mmpose'
    write(assemblies[name], root)
    config, options = TINY[name]
    env = {k: v for k, v in os.environ.items() if not k.startswith('PYTHON')}
    env.update(
        PYTHONPATH=str(root),
        TORCH_HOME=str(tmp_path / 'torch'),  # no cached weights either
        OMP_NUM_THREADS='1')
    proc = subprocess.run([
        sys.executable, '-c', CHILD,
        str(TRAIN), f'projects/{name}/configs/{config}', '--work-dir',
        str(tmp_path / 'work'), '--cfg-options', *COMMON, *options
    ],
                          cwd=root,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert 'CHILD: mmpose_ext is not importable' in out
    assert 'modules of the copy imported' in out
    first_loss(out)
