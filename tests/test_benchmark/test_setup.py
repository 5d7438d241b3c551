"""Benchmark config surgery: the generated data replaces the config's, the
budget replaces its schedule, the time budget runs the learning rate on the
clock, validates on the way and stops training; the learning curve records each
validation."""
from types import SimpleNamespace

import pytest
from mmengine.config import Config

from mmpose_ext.benchmark import (LearningCurveHook, TimeBudgetHook,
                                  apply_budget, generated_test_set,
                                  point_at_dataset, real_test_set)

CONFIG = 'configs/synthetic/td-hm_effnet-lite0_synthetic-128x96.py'


def test_point_at_dataset_and_budget(repo_root, tmp_path):
    cfg = Config.fromfile(str(repo_root / CONFIG))
    point_at_dataset(cfg, tmp_path, 'crowdpose', workers=0, batch_size=4)
    train, test = cfg.train_dataloader, cfg.test_dataloader
    assert train.dataset.type == test.dataset.type == 'CrowdPoseDataset'
    assert train.dataset.data_root == test.dataset.data_root == str(
        tmp_path.resolve())
    assert (train.dataset.ann_file.endswith('person_keypoints_train.json')
            and train.dataset.data_prefix.img == 'train/')
    assert (test.dataset.bbox_file is None
            and test.dataset.data_prefix.img == 'val/')
    assert train.batch_size == test.batch_size == 4 and train.num_workers == 0
    coco, box = cfg.test_evaluator
    assert coco['iou_type'] == 'keypoints_crowd' and coco['prefix'] == box[
        'prefix'] == 'synthetic'
    assert box['type'] == 'BoxNormalizedPoseMetric' and box['thrs'] == (0.1,
                                                                        0.2)
    # apply_budget turns validation on
    assert cfg.val_dataloader is None and cfg.val_evaluator is None

    loader, metrics = real_test_set(cfg, repo_root / 'data/fixtures/crowdpose',
                                    'crowdpose')
    assert loader['dataset']['ann_file'].endswith('test_crowdpose.json')
    assert [m['prefix'] for m in metrics] == ['real', 'real']
    # not generated
    assert generated_test_set(cfg, tmp_path, 'val_shifted', 'shifted',
                              'crowdpose') is None
    (tmp_path / 'annotations').mkdir()
    (tmp_path / 'annotations' /
     'person_keypoints_val_shifted.json').write_text('{}')
    loader, metrics = generated_test_set(cfg, tmp_path, 'val_shifted',
                                         'shifted', 'crowdpose')
    assert loader['dataset']['data_prefix'][
        'img'] == 'val_shifted/' and metrics[0]['prefix'] == 'shifted'

    apply_budget(cfg, tmp_path / 'work', seed=3, iters=50, num_evals=5)
    assert cfg.train_cfg == dict(
        type='IterBasedTrainLoop', max_iters=50, val_interval=10)
    # validation while training: the held-out split, box-normalised metric only
    assert cfg.val_dataloader == cfg.test_dataloader
    assert [m['type']
            for m in cfg.val_evaluator] == ['BoxNormalizedPoseMetric']
    warm, cosine = cfg.param_scheduler
    assert (warm['end'], cosine['begin'], cosine['end'],
            cosine['T_max']) == (5, 5, 50, 45)
    assert cfg.randomness.seed == 3 and cfg.default_hooks.checkpoint is None

    apply_budget(cfg, tmp_path / 'work', seed=3, minutes=1.0)
    assert cfg.param_scheduler is None  # TimeBudgetHook sets the rate
    # num_evals=0: no validation
    assert cfg.val_dataloader is None and cfg.val_evaluator is None
    with pytest.raises(ValueError):
        apply_budget(cfg, tmp_path, seed=0, iters=10, minutes=1.0)


def _runner(lrs=(1.0, 0.1)):
    """A stand-in for MMEngine's runner: two parameter groups, a train loop and
    a counting val loop."""
    groups = [dict(lr=lr) for lr in lrs]
    runner = SimpleNamespace(
        iter=0,
        train_loop=SimpleNamespace(stop_training=False),
        optim_wrapper=SimpleNamespace(
            optimizer=SimpleNamespace(param_groups=groups)))
    runner.val_loop = SimpleNamespace(runs=0)
    runner.val_loop.run = lambda: setattr(runner.val_loop, 'runs', runner.
                                          val_loop.runs + 1)
    return runner


def test_time_budget_hook_stops_training():
    runner = _runner()
    hook = TimeBudgetHook(seconds=3600)
    hook.before_train(runner)
    hook.after_train_iter(runner, 0)
    assert runner.train_loop.stop_training is False
    hook = TimeBudgetHook(seconds=0)
    hook.before_train(runner)
    hook.after_train_iter(runner, 0)
    assert runner.train_loop.stop_training is True


def test_time_budget_schedule_on_the_clock():
    hook = TimeBudgetHook(seconds=100, warmup_iters=10, eta_min_ratio=0.01)
    # warm-up starts at 1 %
    assert hook.lr_factor(0, 0.0) == pytest.approx(0.01)
    assert hook.lr_factor(5, 0.0) == pytest.approx(0.01 + 0.99 * 0.5)
    assert hook.lr_factor(10, 0.0) == pytest.approx(1.0)
    # half-way: cosine at 1/2
    assert hook.lr_factor(50, 50.0) == pytest.approx(0.01 + 0.99 * 0.5)
    assert hook.lr_factor(99, 100.0) == pytest.approx(0.01)
    # clipped past the budget
    assert hook.lr_factor(99, 250.0) == pytest.approx(0.01)
    # every parameter group keeps its own base rate (lr_mult), scaled by the
    # same factor
    runner = _runner(lrs=(2.0, 0.2))
    hook.before_train(runner)
    runner.iter = 10
    hook.start -= 50.0  # 50 s of training have passed
    hook.before_train_iter(runner, 10)
    factor = hook.lr_factor(10, hook.training_seconds())
    assert factor == pytest.approx(0.505, abs=1e-3)
    assert [g['lr'] for g in runner.optim_wrapper.optimizer.param_groups
            ] == pytest.approx([2 * factor, 0.2 * factor])


def test_time_budget_validates_on_the_way_and_does_not_count_validation():
    runner = _runner()
    hook = TimeBudgetHook(seconds=100, num_evals=4)
    hook.before_train(runner)
    # 30 s of training: past the first quarter, not the second
    hook.start -= 30.0
    hook.after_train_iter(runner, 0)
    hook.after_train_iter(runner, 1)
    assert runner.val_loop.runs == 1
    # a validation that took 40 s of wall time is paused time, not training
    # time
    hook.before_val(runner)
    hook._val_start -= 40.0
    hook.start -= 40.0
    hook.after_val(runner)
    assert hook.training_seconds() == pytest.approx(30.0, abs=0.5)
    # 105 s of training now: every remaining validation is due, one per
    # iteration
    hook.start -= 75.0
    for i in range(5):
        hook.after_train_iter(runner, 2 + i)
    assert (runner.val_loop.runs == 4
            and runner.train_loop.stop_training is True)


def test_learning_curve_hook_records_metrics_and_validation_time():
    hook = LearningCurveHook()
    runner = SimpleNamespace(iter=20)
    hook.before_val(runner)
    hook._val_start -= 2.0
    hook.after_val_epoch(runner, metrics={'synthetic/PCK@0.1': 0.25})
    hook.after_val(runner)
    assert hook.curve == [{'iter': 20, 'synthetic/PCK@0.1': 0.25}]
    assert hook.val_seconds == pytest.approx(2.0, abs=0.5)


def test_budget_split_over_stages():
    from mmpose_ext.benchmark.run import _split

    assert [_split(5, 2, i) for i in range(2)] == [3, 2]
    assert [_split(2, 3, i) for i in range(3)] == [1, 1, 0]
    assert _split(1.5, 3, 2) == pytest.approx(0.5)
    assert _split(None, 2, 0) is None


def test_wrapping_configs_run_after_their_base(repo_root):
    from mmpose_ext.benchmark.run import order_by_dependencies

    syn = repo_root / 'configs/synthetic'
    scai, heatmap, rle = (
        str(syn / n) for n in ('scai_td-hm-effnet-lite0_synthetic-128x96.py',
                               'td-hm_effnet-lite0_synthetic-128x96.py',
                               'td-reg_rle_effnet-lite0_synthetic-128x96.py'))
    assert order_by_dependencies([scai, rle, heatmap]) == [heatmap, scai, rle]
    # its base is not listed: it fails alone
    assert order_by_dependencies([rle, scai]) == [rle, scai]


def test_apply_budget_keeps_the_configs_other_randomness_keys(
        repo_root, tmp_path):
    """Poseur's configs draw per-rank noise (diff_rank_seed); the benchmark's
    seed must not drop it."""
    cfg = Config.fromfile(str(repo_root / CONFIG))
    cfg.randomness = dict(seed=0, diff_rank_seed=True)
    apply_budget(cfg, tmp_path, seed=5, iters=10)
    assert cfg.randomness == dict(
        seed=5, diff_rank_seed=True, deterministic=False)


def test_bottomup_configs_keep_whole_images_and_match_people(
        repo_root, tmp_path):
    """A one-stage config is tested on whole images (no ground-truth boxes)
    with CocoMetric as MMPose's RTMO configs score it and MatchedPoseMetric;
    its real and shifted test sets too."""
    cfg = Config.fromfile(
        str(repo_root /
            'configs/synthetic/rtmo_effnet-lite0_synthetic-256x256.py'))
    point_at_dataset(cfg, tmp_path, 'coco', workers=0)
    assert cfg.train_dataloader.dataset.data_mode == 'bottomup'
    assert cfg.test_dataloader.dataset.data_mode == 'bottomup'
    coco, matched = cfg.test_evaluator
    assert (coco['score_mode'], coco['nms_mode']) == ('bbox', 'none')
    assert matched['type'] == 'MatchedPoseMetric'
    loader, metrics = real_test_set(cfg, repo_root / 'data/fixtures/coco')
    assert loader['dataset']['data_mode'] == 'bottomup'
    assert metrics[1]['type'] == 'MatchedPoseMetric'
    apply_budget(cfg, tmp_path, seed=0, iters=10, num_evals=2)
    assert [m['type'] for m in cfg.val_evaluator] == ['MatchedPoseMetric']
