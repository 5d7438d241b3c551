"""Every TokenPose COCO config trains with the official recipe
(leeyegy/TokenPose experiments/coco/tokenpose/*.yaml,
lib/dataset/JointsDataset.py, tools/train.py): no warm-up, Adam 1e-3 stepped at
200/260 of 300 epochs, flip, half body, scale factor 0.35, rotation factor 45
at p 0.6, no shift, DarkPose targets/decoding, flip test without shift.

The bbox transform is built from the config and its sampled scales/rotations
are checked numerically against the official clipped normal (support, mass on
the bounds, tail probabilities, spread) and a sampler written from the official
formulas.
"""
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmpose.registry import TRANSFORMS

CONFIG_DIR = Path(__file__).resolve().parents[3] / 'configs/tokenpose'
CONFIGS = sorted(CONFIG_DIR.glob('*_coco-*.py'))

# The official yaml values (all five COCO yamls agree) and what JointsDataset
# does with them
ROT_FACTOR, SCALE_FACTOR, ROT_PROB = 45., 0.35, 0.6
# s * clip(randn * sf + 1, 1 - sf, 1 + sf)
SCALE_RANGE = (1 - SCALE_FACTOR, 1 + SCALE_FACTOR)
# clip(randn * rf, -2 rf, 2 rf) if random() <= 0.6 else 0
ROT_RANGE = (-2 * ROT_FACTOR, 2 * ROT_FACTOR)


def test_every_variant_is_checked():
    names = {p.name.split('_')[0] for p in CONFIGS}
    assert names == {
        'tokenpose-s-v1', 'tokenpose-s-v2', 'tokenpose-b', 'tokenpose-t',
        'tokenpose-l-d24'
    }, names


@pytest.fixture(
    scope='module', params=CONFIGS, ids=lambda p: p.name.split('_')[0])
def cfg(request):
    return Config.fromfile(str(request.param))


def _transform(cfg, type_name):
    found = [
        t for t in cfg.train_dataloader.dataset.pipeline
        if t['type'] == type_name
    ]
    assert len(found) == 1, (type_name, cfg.train_dataloader.dataset.pipeline)
    return found[0]


def test_schedule_has_no_warmup(cfg):
    assert cfg.train_cfg.max_epochs == 300
    # no LinearLR warm-up before it
    assert len(cfg.param_scheduler) == 1, cfg.param_scheduler
    (sched, ) = cfg.param_scheduler
    assert sched['type'] == 'MultiStepLR' and sched['by_epoch'] and sched.get(
        'begin', 0) == 0
    assert list(sched['milestones']) == [200, 260] and sched['gamma'] == 0.1
    opt = cfg.optim_wrapper.optimizer
    assert opt['type'] == 'Adam' and opt['lr'] == 1e-3 and not opt.get(
        'weight_decay', 0)


def test_pipeline_carries_the_official_augmentation(cfg):
    pipeline = [t['type'] for t in cfg.train_dataloader.dataset.pipeline]
    assert pipeline == [
        'LoadImage', 'GetBBoxCenterScale', 'RandomFlip', 'RandomHalfBody',
        'ClippedNormalBBoxTransform', 'TopdownAffine', 'GenerateTarget',
        'PackPoseInputs'
    ]
    flip = _transform(cfg, 'RandomFlip')
    assert flip['direction'] == 'horizontal' and flip.get('prob', 0.5) == 0.5
    # MMPose's defaults are the official ones: > 8 visible, p 0.3, x1.5
    half = _transform(cfg, 'RandomHalfBody')
    assert half.get('min_total_keypoints', 9) == 9 and half.get('prob',
                                                                0.3) == 0.3
    assert half.get('padding', 1.5) == 1.5
    bbox = _transform(cfg, 'ClippedNormalBBoxTransform')
    assert bbox['shift_prob'] == 0.  # the official code never shifts the box
    assert (bbox['scale_sigma'], bbox['rotate_sigma']) == (SCALE_FACTOR,
                                                           ROT_FACTOR)
    assert bbox['scale_prob'] == 1. and bbox['rotate_prob'] == ROT_PROB
    # clipped at +-1 sigma (scale) and +-2 sigma (rotation)
    assert bbox.get('scale_clip', 1.) == 1. and bbox.get('rotate_clip',
                                                         2.) == 2.
    assert _transform(cfg, 'GetBBoxCenterScale').get('padding', 1.25) == 1.25


def test_codec_and_flip_test_are_darkpose(cfg):
    codec = cfg.model.head.decoder
    assert codec['type'] == 'MSRAHeatmap' and codec['unbiased'] and codec[
        'sigma'] == 2
    assert codec.get('blur_kernel_size', 11) == 11
    assert _transform(cfg, 'GenerateTarget')['encoder'] == codec
    assert (cfg.model.test_cfg.flip_test
            and not cfg.model.test_cfg.shift_heatmap)
    assert cfg.model.head.loss == dict(
        type='KeypointMSELoss', use_target_weight=True, loss_weight=0.5)


def _official_samples(rng, n):
    scale = np.clip(rng.standard_normal(n) * SCALE_FACTOR + 1, *SCALE_RANGE)
    rot = np.where(
        rng.random(n) <= ROT_PROB,
        np.clip(rng.standard_normal(n) * ROT_FACTOR, *ROT_RANGE), 0.)
    return scale, rot


def test_sampled_scale_and_rotation_stay_in_the_official_ranges(cfg):
    n = 20000
    with DefaultScope.overwrite_default_scope('mmpose'):
        transform = TRANSFORMS.build(
            _transform(cfg, 'ClippedNormalBBoxTransform'))
    np.random.seed(0)
    centers = np.tile(np.array([[100., 80.]], dtype=np.float32), (n, 1))
    scales = np.tile(np.array([[120., 160.]], dtype=np.float32), (n, 1))
    out = transform(dict(bbox_center=centers.copy(), bbox_scale=scales.copy()))
    np.testing.assert_array_equal(out['bbox_center'], centers)  # no shift
    factor = out['bbox_scale'] / scales
    # one factor for w and h
    np.testing.assert_allclose(factor[:, 0], factor[:, 1], rtol=1e-6)
    s, r = factor[:, 0], out['bbox_rotation']
    eps = 1e-5
    assert SCALE_RANGE[0] - eps <= s.min() and s.max() <= SCALE_RANGE[1] + eps
    # the whole range is used
    assert s.min() < SCALE_RANGE[0] + 0.01 and s.max() > SCALE_RANGE[1] - 0.01
    assert abs(s.mean() - 1) < 0.01
    assert ROT_RANGE[0] - eps <= r.min() and r.max() <= ROT_RANGE[1] + eps
    assert abs(np.abs(r).max() - ROT_RANGE[1]) < 2
    rotated = r[r != 0]
    assert abs(len(rotated) / n - ROT_PROB) < 0.015

    # the official clipped normal, in ours and in a sampler written from the
    # official formulas: P(|z| > 1) = 0.317 of the scales on the bounds (std
    # 0.251), P(|s - 1| > 0.175) = 0.617, P(|r| > 45) = 0.6 * 0.317 = 0.190,
    # rotated std 43.2 (MMPose's truncated normal on the same support: no
    # atoms, std 0.189, P(|r| > 45) = 0.263, rotated std 48.6)
    off_s, off_r = _official_samples(np.random.default_rng(0), n)
    assert off_s.min() == SCALE_RANGE[0] and off_s.max() == SCALE_RANGE[1]
    lo, hi = np.float32(SCALE_RANGE[0]), np.float32(SCALE_RANGE[1])
    for scale, rot, low, high in ((off_s, off_r, *SCALE_RANGE), (s, r, lo,
                                                                 hi)):
        assert abs(np.mean((scale == low) | (scale == high)) - 0.317) < 0.015
        assert abs(scale.std() - 0.251) < 0.005
        assert abs(np.mean(np.abs(scale - 1) > 0.175) - 0.617) < 0.015
        assert abs(np.mean(np.abs(rot) > 45) - 0.190) < 0.015
        assert abs(rot[rot != 0].std() - 43.2) < 1.0
