"""Bad input to every tool: unreadable pictures are skipped with a warning
naming them and counted, the other pictures' predictions are written, and a
missing or empty folder, a missing config, image or checkpoint is one line on
stderr with exit status 2, never a traceback.

The torch-free runtime and ``infer`` run as their command lines (subprocesses)
on a folder of two bundled pictures, one corrupt ``.jpg`` and a text file.
"""
import json
import shutil
import subprocess
import sys

import pytest
from mmengine.runner import save_checkpoint, weights_to_cpu
from test_runtime._models import FIXTURES, REPO, SYNTHETIC, topdown_model

from mmpose_ext.deploy import export_onnx
from mmpose_ext.tools import demo, infer
from mmpose_ext.tools import test as test_tool
from mmpose_ext.tools import train

CONFIG = SYNTHETIC / 'td-hm_effnet-lite0_synthetic-128x96.py'
GOOD = ('000000000785.jpg', '000000196141.jpg')


@pytest.fixture(scope='module')
def heatmap(tmp_path_factory):
    """(checkpoint, model.onnx) of the random synthetic heatmap model."""
    out = tmp_path_factory.mktemp('bad_input_model')
    model, _ = topdown_model('heatmap')
    checkpoint = out / 'heatmap.pth'
    save_checkpoint(
        dict(
            state_dict=weights_to_cpu(model.state_dict()),
            meta=dict(dataset_meta=model.dataset_meta)), str(checkpoint))
    onnx = export_onnx(model, out / 'heatmap.onnx', (1, 3, 128, 96))
    return checkpoint, onnx


@pytest.fixture
def pictures(tmp_path):
    """Two good pictures, a corrupt ``.jpg`` and a text file."""
    folder = tmp_path / 'pictures'
    folder.mkdir()
    for name in GOOD:
        shutil.copy(FIXTURES / name, folder / name)
    # a JPEG header and then garbage: what a failed download leaves
    (folder / 'broken.jpg').write_bytes(b'\xff\xd8\xff\xe0' + b'\x00' * 64)
    (folder / 'notes.txt').write_text('not a picture')
    return folder


def _run(args, cwd, timeout=300):
    proc = subprocess.run([sys.executable, *map(str, args)],
                          cwd=cwd,
                          capture_output=True,
                          text=True,
                          timeout=timeout)
    assert 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    return proc


def _check_skipped(proc, out, tool):
    assert proc.returncode == 0, proc.stderr[-3000:]
    warning = f'{tool}: warning: skipped {out.parent / "pictures"}/broken.jpg'
    assert warning in proc.stderr, proc.stderr[-3000:]
    assert 'skipped 1 unreadable: broken.jpg' in proc.stdout, proc.stdout
    assert 'ignored 1 non-image files: notes.txt' in proc.stdout
    assert '2 of 3 images read' in proc.stdout
    rows = json.loads((out / 'predictions.json').read_text())
    # no boxes: each whole picture is one person
    assert sorted(r['image_id'] for r in rows) == [785, 196141]
    assert sorted(p.name for p in (out / 'vis').iterdir()) == list(GOOD)


def test_runtime_skips_an_unreadable_picture(heatmap, pictures, tmp_path):
    _, onnx = heatmap
    out = tmp_path / 'runtime'
    proc = _run(['-m', 'mmpose_ext_runtime', onnx, pictures, '--out', out],
                tmp_path)
    _check_skipped(proc, out, 'mmpose_ext_runtime')
    assert proc.stdout.startswith('2 instances in 2 images')


def test_infer_skips_an_unreadable_picture(heatmap, pictures, tmp_path):
    checkpoint, _ = heatmap
    out = tmp_path / 'infer'
    proc = _run([
        '-m', 'mmpose_ext.tools.infer', CONFIG, checkpoint, pictures, '--out',
        out
    ], tmp_path)
    _check_skipped(proc, out, 'infer')
    assert '2 people on 2 images' in proc.stdout


def _one_line_error(proc, tool, message):
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith(f'{tool}: error: {message}'), lines


def test_runtime_missing_empty_and_unreadable_folders(heatmap, tmp_path):
    _, onnx = heatmap
    (tmp_path / 'empty').mkdir()
    (tmp_path / 'bad').mkdir()
    (tmp_path / 'bad' / 'a.png').write_bytes(b'no png')
    for folder, message in (('missing', 'image or folder not found: '),
                            ('empty', 'no images (.jpg'),
                            ('bad', 'none of the 1 images could be read')):
        proc = _run([
            '-m', 'mmpose_ext_runtime', onnx, tmp_path / folder, '--out',
            tmp_path / 'out'
        ], tmp_path, 60)
        _one_line_error(proc, 'mmpose_ext_runtime', message)
    proc = _run(['-m', 'mmpose_ext_runtime', tmp_path / 'no.onnx', FIXTURES],
                tmp_path, 60)
    _one_line_error(proc, 'mmpose_ext_runtime', 'model not found: ')
    assert not (tmp_path / 'out' / 'predictions.json').exists()


def test_infer_missing_empty_and_unreadable_folders(heatmap, tmp_path, capsys):
    checkpoint, _ = heatmap
    proc = _run([
        '-m', 'mmpose_ext.tools.infer', CONFIG, checkpoint,
        tmp_path / 'missing'
    ], tmp_path)
    _one_line_error(proc, 'infer',
                    f'image or folder not found: {tmp_path / "missing"}')
    (tmp_path / 'empty').mkdir()
    (tmp_path / 'bad').mkdir()
    (tmp_path / 'bad' / 'a.jpg').write_bytes(b'no jpeg')
    out = tmp_path / 'out'
    for folder, message in (('empty', 'no images (.jpg'),
                            ('bad', 'none of the 1 images could be read')):
        assert infer.cli([
            str(CONFIG),
            str(checkpoint),
            str(tmp_path / folder), '--out',
            str(out)
        ]) == 2
        assert capsys.readouterr().err.strip().splitlines()[-1].startswith(
            f'infer: error: {message}')
    assert not (out / 'predictions.json').exists()


def test_other_tools_report_bad_input_in_one_line(heatmap, tmp_path, capsys,
                                                  monkeypatch):
    checkpoint, _ = heatmap
    missing = str(tmp_path / 'missing.py')
    assert demo.cli([missing]) == 2
    assert capsys.readouterr().err.startswith(
        f'demo: error: config {missing!r} is neither a file nor a packaged')
    assert demo.cli(['--image', 'mmpose_ext::fixtures/coco/nobody.jpg']) == 2
    assert capsys.readouterr().err.startswith(
        'demo: error: image not found: mmpose_ext::fixtures/coco/nobody.jpg')
    monkeypatch.setattr(sys, 'argv', ['train', missing])
    assert train.cli() == 2
    assert capsys.readouterr().err.startswith(f'train: error: config '
                                              f'{missing!r}')
    monkeypatch.setattr(sys, 'argv',
                        ['test', str(CONFIG),
                         str(tmp_path / 'no.pth')])
    assert test_tool.cli() == 2
    assert capsys.readouterr().err.strip() == (
        f'test: error: checkpoint not found: {tmp_path / "no.pth"}')


def test_packaged_image_names_resolve():
    from mmpose_ext_runtime.inputs import (InputError, fixtures_root,
                                           list_images, resolve_path)

    assert fixtures_root().resolve() == (REPO / 'data/fixtures').resolve()
    images, ignored = list_images('mmpose_ext::fixtures/coco')
    assert [p.name
            for p in images] == sorted(p.name for p in FIXTURES.glob('*.jpg'))
    assert {p.suffix for p in ignored} == {'.json'}
    assert resolve_path('mmpose_ext::fixtures/coco/test_coco.json').is_file()
    with pytest.raises(InputError, match='the only packaged name for data'):
        resolve_path('mmpose::fixtures/coco')
    with pytest.raises(InputError, match='not found: mmpose_ext::fixtures/x'):
        resolve_path('mmpose_ext::fixtures/x')
