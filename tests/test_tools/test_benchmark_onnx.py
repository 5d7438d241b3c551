"""``python -m mmpose_ext.tools.benchmark_onnx`` at its smallest setting: one
head, batch 1, one thread, one run."""
from pathlib import Path

from mmpose_ext.tools import benchmark_onnx

CONFIG = Path(__file__).resolve().parents[2] / (
    'configs/synthetic/td-reg_rle-flow-laplace_effnet-lite0_synthetic-'
    '128x96.py')


def test_one_head_one_run(tmp_path, capsys):
    rows = benchmark_onnx.main([
        '--configs',
        str(CONFIG), '--batches', '1', '--threads', '1', '--repeats', '1',
        '--warmup', '0', '--out',
        str(tmp_path)
    ])
    (row, ) = rows
    assert row['head'] == 'Float32RLEHead' and row['input'] == '128x96' and (
        row['threads'], row['batch']) == (1, 1)
    assert row['eager_ms'] > 0 and row['ort_ms'] > 0
    assert abs(row['ratio'] - row['ort_ms'] / row['eager_ms']) < 1e-9
    # the exported graph computes what PyTorch does
    assert row['max_abs_diff'] < 1e-3
    out = capsys.readouterr().out
    assert '| config | head |' in out and (
        '| td-reg_rle-flow-laplace_effnet-'
        'lite0_synthetic-128x96 | Float32RLEHead '
        '|') in out
    assert (tmp_path / 'benchmark_onnx.md').read_text().startswith('torch ')
    assert (tmp_path / 'benchmark_onnx.json').is_file()
