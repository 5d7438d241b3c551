"""The README's main job at toy scale: generate → train → CocoMetric (generated val + real images) →
visualisations → ONNX check; and the same on the bundled real images with a config that has no
``synthetic`` dict."""
import json

from mmpose_ext.tools import demo


def test_demo_on_generated_data(tmp_path):
    summary = demo.main(['--epochs', '1', '--num-train', '6', '--num-val', '3', '--data-root',
                         str(tmp_path / 'data'), '--work-dir', str(tmp_path / 'work')])
    assert json.loads((tmp_path / 'data/meta.json').read_text())['params']['num_train'] == 6
    assert 0.0 <= summary['synthetic_AP'] <= 1.0 and 0.0 <= summary['real_AP'] <= 1.0
    fitted, held_out, real = summary['visualisations']
    assert fitted['file'].endswith('_pred.png') and '/vis/train_' in fitted['file']
    assert '/vis/heldout_' in held_out['file'] and '/vis/real_000000196141' in real['file']
    assert fitted['instances_drawn'] >= 1 and held_out['instances_drawn'] >= 1
    assert real['instances_drawn'] == 4  # the four annotated people of 000000196141.jpg
    for vis in (fitted, held_out, real):
        with open(vis['file'], 'rb') as f:
            assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    assert summary['onnx_max_abs_diff'] <= 1e-4
    assert json.loads((tmp_path / 'work/summary.json').read_text())['checkpoint'].endswith('epoch_1.pth')


def test_demo_on_the_bundled_images(repo_root, tmp_path):
    summary = demo.main(['--config', str(repo_root / 'configs/demo/poseur_res18_fixtures-256x192.py'),
                         '--epochs', '1', '--work-dir', str(tmp_path)])
    assert 0.0 <= summary['coco_AP'] <= 1.0 and 'real_AP' not in summary
    (real, ) = summary['visualisations']
    assert real['instances_drawn'] == 4
    assert summary['onnx_max_abs_diff'] <= 1e-4
