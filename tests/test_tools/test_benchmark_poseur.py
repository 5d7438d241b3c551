"""The Poseur benchmark tool runs (tiny sizes; no timing is asserted)."""
from mmpose_ext.tools import benchmark_poseur


def test_attention_and_effnet_step_rows_run():
    row = benchmark_poseur.bench_attention(batch=1, repeats=1)
    assert row['msda'] > 0 and row['emsda'] > 0
    assert row['ratio'] == row['emsda'] / row['msda']
    row = benchmark_poseur.bench_effnet_step(repeats=1, batch=2)
    assert row['poseur'] > 0 and row['rle'] > 0
    assert row['ratio'] == row['poseur'] / row['rle']
