"""python -m mmpose_ext.tools.learning_check: one row per config and seed,

--cfg-options reach the model, results.json written.
"""
import json

from mmpose_ext.tools.learning_check import main


def test_rows_options_and_json(repo_root, tmp_path):
    config = str(repo_root /
                 'configs/synthetic/sinecc_effnet-lite0_synthetic-128x96.py')
    rows = main([
        config, '--iters', '3', '--seeds', '0', '1', '--train-images', '4',
        '--val-images', '2', '--input-size', '48', '64', '--workers', '0',
        '--cfg-options', 'model.head.logit_scale=1.0', '--out',
        str(tmp_path)
    ])
    assert [r['seed'] for r in rows] == [0, 1]
    # the raw dot product starts far from uniform: the option was applied
    assert rows[0]['start_stats']['logit range'] > 5
    saved = json.loads((tmp_path / 'results.json').read_text())
    assert len(saved['results']) == 2 and saved['args']['iters'] == 3
