"""The generator and the benchmark CLI end to end at toy scale (CI's tiny version): our RLE-flow + Laplace
config trained 2 iterations on 6 generated images, tested on the generated val split and the real fixtures,
measured and reported; then the CrowdPose layout (K=14) under a minutes budget beside a broken config."""
import json

from mmpose_ext.tools import benchmark

CROWDPOSE = 'configs/synthetic/td-reg_res18_rle-flow-laplace-1xb32-30e_synthetic-crowdpose-128x96.py'
OURS = 'configs/synthetic/td-reg_res18_rle-flow-laplace-1xb32-30e_synthetic-128x96.py'
TINY = ['--num-train', '6', '--num-val', '2', '--batch-size', '2', '--workers', '0', '--latency-repeats', '1',
        '--latency-batches', '1', '2']


def test_benchmark_iterations(repo_root, tmp_path):
    out = benchmark.main(['--configs', str(repo_root / OURS), '--budget-iters', '2', '--seed', '1',
                          '--out', str(tmp_path), *TINY])
    (row, ) = json.loads((tmp_path / 'results.json').read_text())['results']
    assert 'error' not in row, row.get('error')
    assert row['name'] == OURS.split('/')[-1][:-3] and row['head'] == 'RLEHead'
    assert row['iters'] == 2 and row['train_s'] > 0
    assert 0.0 <= row['synthetic/AP'] <= 1.0 and 0.0 <= row['real/AP'] <= 1.0
    assert row['params_M'] > 10 and row['gflops'] > 0.4  # a ResNet-18 at 128x96
    assert row['latency_b1_ms'] > 0 and row['latency_b2_ms'] > 0
    md = (tmp_path / 'results.md').read_text()
    assert '--budget-iters 2' in md and md.count('| td-reg_res18_rle-flow-laplace') == 1
    for key in ('latency_plot', 'time_plot'):
        with open(out['files'][key], 'rb') as f:
            assert f.read(8) == b'\x89PNG\r\n\x1a\n'


def test_benchmark_crowdpose_minutes_and_a_failing_config(repo_root, tmp_path):
    broken = tmp_path / 'broken.py'
    broken.write_text("_base_ = ['" + str(repo_root / OURS) + "']\nmodel = dict(head=dict(type='NoSuchHead'))\n")
    benchmark.main(['--configs', str(repo_root / CROWDPOSE), str(broken), '--budget-minutes', '0.0001',
                    '--layout', 'crowdpose', '--out', str(tmp_path), *TINY])
    ok, failed = json.loads((tmp_path / 'results.json').read_text())['results']
    assert 0.0 <= ok['synthetic/AP'] <= 1.0 and 0.0 <= ok['real/AP'] <= 1.0
    assert 'synthetic/AP(E)' not in ok  # only AP, AP .5, AP .75, AR are kept
    assert ok['iters'] == 1  # stopped by the time budget after one iteration
    assert 'NoSuchHead' in failed['error']
    assert 'failed' in (tmp_path / 'results.md').read_text()


HEATMAP = 'configs/synthetic/td-hm_res18_1xb32-30e_synthetic-128x96.py'
SCAI = 'configs/synthetic/scai_td-hm-res18_1xb32-30e_synthetic-128x96.py'


def test_benchmark_scai_wraps_the_heatmap_model_of_the_same_run(repo_root, tmp_path):
    """SCAI's `benchmark` plan: its frozen base is the heatmap row's trained model, the budget is split over
    its two stages (stage 2 starts from stage 1's weights), and it is tested with and without TTA."""
    import torch

    benchmark.main(['--configs', str(repo_root / HEATMAP), str(repo_root / SCAI), '--budget-iters', '3',
                    '--out', str(tmp_path), '--no-real', *TINY])
    rows = json.loads((tmp_path / 'results.json').read_text())['results']
    assert [r['name'] for r in rows] == [HEATMAP.split('/')[-1][:-3], SCAI.split('/')[-1][:-3],
                                         SCAI.split('/')[-1][:-3] + '+TTA']
    assert all('error' not in r for r in rows), [r.get('error') for r in rows]
    heatmap, scai, scai_tta = rows
    assert scai['iters'] == 3 and scai['wraps'] == heatmap['name']  # 2 + 1 iterations in the two stages
    assert scai['head'] == 'SCAIPoseEstimator' and scai['params_M'] > heatmap['params_M']
    assert 0.0 <= scai['synthetic/AP'] <= 1.0 and 0.0 <= scai_tta['synthetic/AP'] <= 1.0

    def weights(path):
        return torch.load(path, map_location='cpu', weights_only=False)['state_dict']

    base = weights(tmp_path / heatmap['name'] / 'final.pth')
    stage0 = weights(tmp_path / scai['name'] / 'stage0' / 'final.pth')
    stage1 = weights(tmp_path / scai['name'] / 'stage1' / 'final.pth')
    key = 'backbone.conv1.weight'
    assert torch.equal(stage1['base.' + key], base[key])  # the wrapped model stays frozen
    def changed(prefix):
        return [k for k in stage0 if k.startswith(prefix) and not torch.equal(stage0[k], stage1[k])]

    assert not changed('phi.') and not changed('gamma.')  # stage 2 starts from stage 1 and trains only C
    assert changed('correction.')


def test_benchmark_scai_needs_its_base_first(repo_root, tmp_path):
    benchmark.main(['--configs', str(repo_root / SCAI), '--budget-iters', '1', '--out', str(tmp_path),
                    '--no-real', *TINY])
    (row, ) = json.loads((tmp_path / 'results.json').read_text())['results']
    assert 'list that config before it' in row['error']
