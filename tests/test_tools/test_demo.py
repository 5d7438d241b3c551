"""The README's main job, shortened to 2 epochs: train → CocoMetric → visualisation → ONNX check."""
import json

from mmpose_ext.tools import demo


def test_demo_end_to_end(tmp_path):
    summary = demo.main(['--epochs', '2', '--work-dir', str(tmp_path)])
    assert 0.0 <= summary['coco_AP'] <= 1.0
    assert summary['instances_drawn'] == 4  # the four annotated people of 000000196141.jpg
    png = tmp_path / 'vis' / '000000196141_pred.png'
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert summary['onnx_max_abs_diff'] <= 1e-4
    assert json.loads((tmp_path / 'summary.json').read_text())['checkpoint'].endswith('epoch_2.pth')
