"""``python -m mmpose_ext.tools.export_onnx CONFIG CHECKPOINT``: the
checkpoint, as in every tool, comes second; untrained weights are exported only
when ``--random-weights`` asks for them, and the tool then says so."""
import pytest
from mmengine.runner import save_checkpoint, weights_to_cpu
from test_runtime._models import SYNTHETIC, topdown_model

from mmpose_ext.deploy import read_metadata
from mmpose_ext.tools import export_onnx

CONFIG = str(SYNTHETIC / 'td-hm_effnet-lite0_synthetic-128x96.py')


def test_no_checkpoint_is_an_error(capsys, tmp_path):
    assert export_onnx.cli([CONFIG, '--out', str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == (
        'export_onnx: error: no checkpoint: give the trained weights (CONFIG '
        'CHECKPOINT), or --random-weights to export untrained weights')
    assert export_onnx.cli(
        [CONFIG, str(tmp_path / 'w.pth'), '--random-weights']) == 2
    assert 'a checkpoint and --random-weights: give one' in (
        capsys.readouterr().err)
    assert export_onnx.cli([CONFIG, str(tmp_path / 'w.pth')]) == 2
    assert capsys.readouterr().err.strip() == (
        f'export_onnx: error: checkpoint not found: {tmp_path / "w.pth"}')
    assert not list(tmp_path.rglob('*.onnx'))


def test_checkpoint_or_random_weights(capsys, tmp_path):
    model, _ = topdown_model('heatmap')
    checkpoint = tmp_path / 'heatmap.pth'
    save_checkpoint(
        dict(
            state_dict=weights_to_cpu(model.state_dict()),
            meta=dict(dataset_meta=model.dataset_meta)), str(checkpoint))
    # --out: a file name ending in .onnx
    diff = export_onnx.main(
        [CONFIG, str(checkpoint), '--out',
         str(tmp_path / 'mine.onnx')])
    assert diff <= 1e-4
    out = capsys.readouterr().out
    assert f'weights {checkpoint}' in out and 'RANDOM' not in out
    assert read_metadata(tmp_path /
                         'mine.onnx')['model']['num_keypoints'] == 17
    # --out: a folder (model.onnx in it)
    assert export_onnx.cli(
        [CONFIG, '--random-weights', '--out',
         str(tmp_path / 'random')]) == 0
    assert 'RANDOM (untrained) weights, not a trained model' in (
        capsys.readouterr().out)
    assert (tmp_path / 'random' / 'model.onnx').is_file()


@pytest.mark.parametrize('decode, name', [(False, 'model.onnx'),
                                          (True, 'model_decoded.onnx')])
def test_output_file(decode, name, tmp_path):
    assert export_onnx.output_file(str(tmp_path), decode) == tmp_path / name
    assert export_onnx.output_file('a/b.onnx', decode).as_posix() == 'a/b.onnx'
