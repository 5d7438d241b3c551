"""The generator and the benchmark CLI end to end at toy scale (CI's tiny
version): our RLE-flow + Laplace config trained a few iterations on 6 generated
images for two seeds, validated on the way, tested on the held-out, real and
shifted splits, also with the 1 − σ score, beside the no-skill row, measured
and reported; then the CrowdPose layout (K=14) under a minutes budget beside a
broken config; then SCAI wrapping the heatmap model of the same run."""
import json

import pytest

from mmpose_ext.tools import benchmark

CROWDPOSE = ('configs/synthetic/td-reg_rle-flow-laplace_effnet-lite0_'
             'synthetic-crowdpose-128x96.py')
OURS = ('configs/synthetic/td-reg_rle-flow-laplace_effnet-lite0_synthetic-'
        '128x96.py')
TINY = [
    '--num-train', '6', '--num-val', '2', '--batch-size', '2', '--workers',
    '0', '--latency-repeats', '1', '--latency-batches', '1', '2'
]


def test_benchmark_iterations_two_seeds(repo_root, tmp_path):
    out = benchmark.main([
        '--configs',
        str(repo_root / OURS), '--budget-iters', '4', '--seeds', '1', '2',
        '--evals', '2', '--num-val-shifted', '2', '--out',
        str(tmp_path), *TINY
    ])
    no_skill, *rows = json.loads(
        (tmp_path / 'results.json').read_text())['results']
    assert all('error' not in r for r in [no_skill] +
               rows), [r.get('error') for r in [no_skill] + rows]
    name = OURS.split('/')[-1][:-3]
    assert [(r['name'], r['seed']) for r in rows] == [(name, 1),
                                                      (name + '+score 1-σ', 1),
                                                      (name, 2),
                                                      (name + '+score 1-σ', 2)]
    assert no_skill['head'] == 'MeanPoseBaseline'
    for row in [no_skill] + rows:
        for split in ('synthetic', 'real', 'shifted'):
            assert 0.0 <= row[f'{split}/AP'] <= 1.0 and 0.0 <= row[
                f'{split}/PCK@0.1'] <= row[f'{split}/PCK@0.2']
            assert row[f'{split}/err/box'] >= 0.0
    plain, one_minus_sigma = rows[:2]
    assert plain['head'] == 'Float32RLEHead' and plain['backbone'] == 'lite0'
    assert plain['iters'] == 4 and plain['train_s'] > 0
    # validated twice on the way
    assert [p['iter'] for p in plain['curve']] == [2, 4]
    assert all(0.0 <= p['synthetic/PCK@0.1'] <= 1.0 for p in plain['curve'])
    # the same predictions, another score: PCK and error are equal, only AP may
    # move
    for key in ('synthetic/PCK@0.1', 'synthetic/err/box', 'real/PCK@0.2'):
        assert one_minus_sigma[key] == pytest.approx(plain[key])
    # Lite0 without its 1280-wide head: 3.0 M
    assert 2.5 < plain['params_M'] < 4 and plain['gflops'] > 0.05
    assert plain['latency_b1_ms'] > 0 and plain['latency_b2_ms'] > 0
    md = (tmp_path / 'results.md').read_text()
    assert '--budget-iters 4' in md and '--seeds 1 2' in md
    # once in the accuracy table, once in the cost table
    assert md.count(f'| {name} |') == 2
    # two seeds: a spread
    assert '| no skill (training mean pose in each box) |' in md and ' ±' in md
    for key in ('curves_plot', 'latency_plot'):
        with open(out['files'][key], 'rb') as f:
            assert f.read(8) == b'\x89PNG\r\n\x1a\n'


def test_benchmark_crowdpose_minutes_and_a_failing_config(repo_root, tmp_path):
    broken = tmp_path / 'broken.py'
    broken.write_text("_base_ = ['" + str(repo_root / OURS) +
                      "']\nmodel = dict(head=dict(type='NoSuchHead'))\n")
    benchmark.main([
        '--configs',
        str(repo_root / CROWDPOSE),
        str(broken), '--budget-minutes', '0.0001', '--layout', 'crowdpose',
        '--out',
        str(tmp_path), *TINY
    ])
    no_skill, ok, ok_one_minus_sigma, failed = json.loads(
        (tmp_path / 'results.json').read_text())['results']
    assert 0.0 <= ok['synthetic/AP'] <= 1.0 and 0.0 <= ok['real/AP'] <= 1.0
    # the test variant the config inherits
    assert ok_one_minus_sigma['name'] == ok['name'] + '+score 1-σ'
    assert 0.0 <= no_skill['real/PCK@0.1'] <= 1.0
    # only AP, AP .5, AP .75, AR and the box-normalised metrics are kept
    assert 'synthetic/AP(E)' not in ok
    assert ok['iters'] == 1  # stopped by the time budget after one iteration
    assert 'NoSuchHead' in failed['error']
    assert 'failed' in (tmp_path / 'results.md').read_text()


HEATMAP = 'configs/synthetic/td-hm_effnet-lite0_synthetic-128x96.py'
SCAI = 'configs/synthetic/scai_td-hm-effnet-lite0_synthetic-128x96.py'


def test_benchmark_scai_wraps_the_heatmap_model_of_the_same_run(
        repo_root, tmp_path):
    """SCAI's `benchmark` plan: its frozen base is the heatmap row's trained
    model, the budget is split over its two stages (stage 2 starts from stage
    1's weights), and it is tested with and without TTA."""
    import torch

    benchmark.main([
        '--configs',
        str(repo_root / HEATMAP),
        str(repo_root / SCAI), '--budget-iters', '3', '--out',
        str(tmp_path), '--no-real', *TINY
    ])
    rows = json.loads((tmp_path / 'results.json').read_text())['results'][1:]
    assert [r['name'] for r in rows] == [
        HEATMAP.split('/')[-1][:-3],
        SCAI.split('/')[-1][:-3],
        SCAI.split('/')[-1][:-3] + '+TTA',
        SCAI.split('/')[-1][:-3] + '+TTA selective',
        SCAI.split('/')[-1][:-3] + '+TTA paper'
    ]
    assert all('error' not in r for r in rows), [r.get('error') for r in rows]
    heatmap, scai, scai_tta, scai_selective, scai_paper = rows
    assert scai_paper['synthetic/adapted'] == scai_tta['synthetic/adapted']
    # the config's SCAIFeedbackMetric, on the held-out split (after 3
    # iterations most start joints are unseen, and those people fall back to
    # the frozen model unadapted): no adaptation without TTA, the selective
    # variant adapts no one that +TTA does not
    assert scai['synthetic/adapted'] == 0.0
    assert 0.0 <= scai_selective['synthetic/adapted'] <= scai_tta[
        'synthetic/adapted'] <= 1.0
    assert -1.0 <= scai['synthetic/r(feedback, error)'] <= 1.0
    assert '**SCAI: the distal keypoints it corrects**' in (
        tmp_path / 'results.md').read_text()
    # 2 + 1 iterations in the two stages
    assert scai['iters'] == 3 and scai['wraps'] == heatmap['name']
    assert scai['head'] == 'SCAIPoseEstimator' and scai['params_M'] > heatmap[
        'params_M']
    assert 0.0 <= scai['synthetic/AP'] <= 1.0 and 0.0 <= scai_tta[
        'synthetic/AP'] <= 1.0

    def weights(path):
        return torch.load(
            path, map_location='cpu', weights_only=False)['state_dict']

    run = tmp_path / 'seed0'
    base = weights(run / heatmap['name'] / 'final.pth')
    stage0 = weights(run / scai['name'] / 'stage0' / 'final.pth')
    stage1 = weights(run / scai['name'] / 'stage1' / 'final.pth')
    key = 'backbone.conv_stem.weight'
    # the wrapped model stays frozen
    assert torch.equal(stage1['base.' + key], base[key])

    def changed(prefix):
        return [
            k for k in stage0
            if k.startswith(prefix) and not torch.equal(stage0[k], stage1[k])
        ]

    # stage 2 starts from stage 1 and trains only C
    assert not changed('phi.') and not changed('gamma.')
    assert changed('correction.')


def test_benchmark_scai_needs_its_base_first(repo_root, tmp_path):
    benchmark.main([
        '--configs',
        str(repo_root / SCAI), '--budget-iters', '1', '--out',
        str(tmp_path), '--no-real', *TINY
    ])
    row = json.loads((tmp_path / 'results.json').read_text())['results'][-1]
    assert 'list that config before it' in row['error']
