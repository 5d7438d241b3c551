"""Benchmark config surgery: the generated data replaces the config's, the budget replaces its schedule, and
the time budget stops training."""
from types import SimpleNamespace

import pytest
from mmengine.config import Config

from mmpose_ext.benchmark import TimeBudgetHook, apply_budget, point_at_dataset, real_test_set

CONFIG = 'configs/synthetic/td-hm_res18_1xb32-30e_synthetic-128x96.py'


def test_point_at_dataset_and_budget(repo_root, tmp_path):
    cfg = Config.fromfile(str(repo_root / CONFIG))
    point_at_dataset(cfg, tmp_path, 'crowdpose', workers=0, batch_size=4)
    train, test = cfg.train_dataloader, cfg.test_dataloader
    assert train.dataset.type == test.dataset.type == 'CrowdPoseDataset'
    assert train.dataset.data_root == test.dataset.data_root == str(tmp_path.resolve())
    assert train.dataset.ann_file.endswith('person_keypoints_train.json') and train.dataset.data_prefix.img == 'train/'
    assert test.dataset.bbox_file is None and test.dataset.data_prefix.img == 'val/'
    assert train.batch_size == test.batch_size == 4 and train.num_workers == 0
    assert cfg.test_evaluator.iou_type == 'keypoints_crowd' and cfg.test_evaluator.prefix == 'synthetic'
    assert cfg.val_dataloader is None and cfg.val_evaluator is None

    loader, metric = real_test_set(cfg, repo_root / 'data/fixtures/crowdpose', 'crowdpose')
    assert loader['dataset']['ann_file'].endswith('test_crowdpose.json') and metric['prefix'] == 'real'

    apply_budget(cfg, tmp_path / 'work', seed=3, iters=50)
    assert cfg.train_cfg == dict(type='IterBasedTrainLoop', max_iters=50, val_interval=10**9)
    warm, cosine = cfg.param_scheduler
    assert (warm['end'], cosine['begin'], cosine['end'], cosine['T_max']) == (5, 5, 50, 45)
    assert cfg.randomness.seed == 3 and cfg.default_hooks.checkpoint is None

    apply_budget(cfg, tmp_path / 'work', seed=3, minutes=1.0)
    assert len(cfg.param_scheduler) == 1  # constant rate after the warm-up
    with pytest.raises(ValueError):
        apply_budget(cfg, tmp_path, seed=0, iters=10, minutes=1.0)


def test_time_budget_hook_stops_training():
    runner = SimpleNamespace(train_loop=SimpleNamespace(stop_training=False))
    hook = TimeBudgetHook(seconds=3600)
    hook.before_train(runner)
    hook.after_train_iter(runner, 0)
    assert runner.train_loop.stop_training is False
    hook = TimeBudgetHook(seconds=0)
    hook.before_train(runner)
    hook.after_train_iter(runner, 0)
    assert runner.train_loop.stop_training is True


def test_budget_split_over_stages():
    from mmpose_ext.benchmark.run import _split

    assert [_split(5, 2, i) for i in range(2)] == [3, 2]
    assert [_split(2, 3, i) for i in range(3)] == [1, 1, 0]
    assert _split(1.5, 3, 2) == pytest.approx(0.5)
    assert _split(None, 2, 0) is None


def test_wrapping_configs_run_after_their_base(repo_root):
    from mmpose_ext.benchmark.run import order_by_dependencies

    syn = repo_root / 'configs/synthetic'
    scai, heatmap, rle = (str(syn / n) for n in ('scai_td-hm-res18_1xb32-30e_synthetic-128x96.py',
                                                 'td-hm_res18_1xb32-30e_synthetic-128x96.py',
                                                 'td-reg_res18_rle-1xb32-30e_synthetic-128x96.py'))
    assert order_by_dependencies([scai, rle, heatmap]) == [heatmap, scai, rle]
    assert order_by_dependencies([rle, scai]) == [rle, scai]  # its base is not listed: it fails alone
