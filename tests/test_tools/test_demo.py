"""The README's main job at toy scale: generate → train → CocoMetric + box-
normalised metrics on held-out generated and real people, beside the no-skill
baseline → visualisations → ONNX check; and the same on the bundled real images
with a config that has no ``synthetic`` dict."""
import json

from mmpose_ext.tools import demo

KEYS = {'AP', 'AP50', 'PCK@0.1', 'PCK@0.2', 'err/box', 'LR-swap'}


def _check_runtime(report):
    """mmpose_ext_runtime on the exported model (raw graph and decoded graph)
    over the 12 real people equals PyTorch's predictions without flip test."""
    assert report['images'] == 4 and report['instances'] == 12
    for name in ('raw', 'decoded'):
        assert report[name]['max_keypoint_px_diff'] <= 0.5, (name,
                                                             report[name])
        assert report[name]['max_score_diff'] <= 1e-3, (name, report[name])
        assert len(json.loads(open(report[name]['predictions']).read())) == 12


def test_demo_on_generated_data(tmp_path):
    summary = demo.main([
        '--epochs', '1', '--num-train', '6', '--num-val', '3', '--data-root',
        str(tmp_path / 'data'), '--work-dir',
        str(tmp_path / 'work')
    ])
    assert json.loads(
        (tmp_path / 'data/meta.json').read_text())['params']['num_train'] == 6
    written = json.loads((tmp_path / 'work/summary.json').read_text())
    for row in (written['heldout'], written['real'],
                written['no_skill']['heldout'], written['no_skill']['real']):
        assert set(row) == KEYS
        assert 0.0 <= row['AP'] <= 1.0 and 0.0 <= row['PCK@0.1'] <= row[
            'PCK@0.2'] <= 1.0
    # the no-skill baseline of the real people: the 6 generated training
    # images' mean pose, not the model
    assert written['no_skill']['real'] != written['real']
    held_out, real = summary['visualisations']
    assert '/vis/heldout_' in held_out[
        'file'] and '/vis/real_000000196141' in real['file']
    assert held_out['instances_drawn'] >= 1
    # the four annotated people of 000000196141.jpg
    assert real['instances_drawn'] == 4
    for vis in (held_out, real):
        with open(vis['file'], 'rb') as f:
            assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    assert summary['onnx_max_abs_diff'] <= 1e-4
    _check_runtime(written['onnx_runtime'])
    assert written['checkpoint'].endswith(
        'epoch_1.pth') and written['train_iterations'] >= 1


def test_demo_on_the_bundled_images(repo_root, tmp_path):
    summary = demo.main([
        str(repo_root / 'configs/demo/poseur_res18_fixtures-256x192.py'),
        '--epochs', '1', '--out',
        str(tmp_path)
    ])
    assert 0.0 <= summary['coco']['AP'] <= 1.0 and 'real' not in summary
    (real, ) = summary['visualisations']
    assert real['instances_drawn'] == 4
    assert summary['onnx_max_abs_diff'] <= 1e-4
    _check_runtime(summary['onnx_runtime'])
