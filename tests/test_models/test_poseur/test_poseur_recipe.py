"""The Poseur COCO configs carry the official recipe (aim-uofa/Poseur
configs/poseur/coco/*.py): optimiser and schedule, SyncBN, the augmentation
values, the head as the official code runs it, and for HRNet-W48 384x288
photometric distortion and cutout; the W48 train pipeline runs on the bundled
COCO images."""
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpose.registry import DATASETS, TRANSFORMS

CONFIGS = Path(__file__).resolve().parents[3] / 'configs' / 'poseur'
COCO_CONFIGS = sorted(CONFIGS.glob('poseur_*_coco-*.py'))


def _transform(pipeline, name):
    found = [t for t in pipeline if t['type'] == name]
    assert len(found) == 1, (name, [t['type'] for t in pipeline])
    return found[0]


@pytest.mark.parametrize('path', COCO_CONFIGS, ids=lambda p: p.stem)
def test_official_recipe(path):
    cfg = Config.fromfile(str(path))
    # fp16
    assert (cfg.optim_wrapper.type == 'AmpOptimWrapper'
            and cfg.optim_wrapper.loss_scale == 'dynamic')
    # official grad_clip=None
    assert cfg.optim_wrapper.get('clip_grad') is None
    opt = cfg.optim_wrapper.optimizer
    assert (opt.type, opt.lr, opt.weight_decay) == ('AdamW', 1e-3, 1e-4)
    assert cfg.optim_wrapper.paramwise_cfg.custom_keys[
        'sampling_offsets'] == dict(lr_mult=0.1)
    warmup, steps = cfg.param_scheduler
    assert (warmup.type, warmup.end, warmup.start_factor,
            warmup.by_epoch) == ('LinearLR', 500, 0.001, False)
    assert (steps.type, steps.milestones, steps.gamma) == ('MultiStepLR',
                                                           [255, 310], 0.1)
    assert (cfg.train_cfg.max_epochs == 325
            and cfg.train_dataloader.batch_size == 32)
    assert cfg.auto_scale_lr.base_batch_size == 256  # 32 x 8 GPUs
    assert cfg.model.backbone.norm_cfg.type == 'SyncBN'

    pipeline = cfg.train_dataloader.dataset.pipeline
    box = _transform(pipeline, 'ClippedNormalBBoxTransform')
    # official rot_factor 40 (clipped at +-80) and scale_factor 0.5 (clipped at
    # 0.5, 1.5), rotation p 0.6, no shift
    assert (box.scale_sigma, box.rotate_sigma, box.rotate_prob,
            box.shift_prob) == (0.5, 40., 0.6, 0.)
    assert box.get('scale_clip', 1.) == 1. and box.get('rotate_clip', 2.) == 2.
    _transform(pipeline, 'RandomHalfBody')
    flip = _transform(pipeline, 'RandomFlip')
    assert flip.get('prob', 0.5) == 0.5

    head = cfg.model.head
    for loss in (head.loss_coarse, head.loss_decoder):
        assert (loss.normalize == 'keypoint'
                and loss.q_distribution == 'poseur' and loss.prior_mean == 0.5)
    assert (head.init_scheme, head.fp32_decoder, head.score,
            head.flip_fusion) == ('official', True, 'rle', 'default')
    noise = head.noise_cfg
    assert (noise.num_groups, noise.noise_cov,
            tuple(noise.point_range)) == (3, 0.2, (-0.7, 1.7))
    assert head.num_decoder_layers == 6 and cfg.model.test_cfg.flip_test


def test_sampled_box_transform_is_the_official_clipped_normal():
    """Official: s·clip(1 + 0.5z, 0.5, 1.5), and with p 0.6
    clip(40z, −80, 80): P(|s − 1| > 0.25) = P(|z| > 0.5) = 0.617, 0.317 of the
    scales on the bounds, P(|r| > 40) = 0.6·P(|z| > 1) = 0.190."""
    cfg = Config.fromfile(
        str(CONFIGS / 'poseur_res50_8xb32-325e_coco-256x192.py'))
    box = TRANSFORMS.build(
        _transform(cfg.train_dataloader.dataset.pipeline,
                   'ClippedNormalBBoxTransform'))
    np.random.seed(0)
    n = 20000
    offset, scale, rotate = box._get_transform_params.__wrapped__(box, n)
    assert (offset == 0).all()
    assert 0.5 <= scale.min() and scale.max() <= 1.5
    assert abs(np.mean(np.abs(scale - 1) > 0.25) - 0.617) < 0.012
    assert abs(np.mean((scale == 0.5) | (scale == 1.5)) - 0.317) < 0.012
    rotated = rotate[rotate != 0]
    assert abs(len(rotated) / n - 0.6) < 0.012
    assert np.abs(rotated).max() <= 80
    assert abs(np.mean(np.abs(rotate) > 40) - 0.190) < 0.012


def test_hrnet_w48_384x288_adds_photometric_distortion_and_cutout(
        coco_fixtures):
    init_default_scope('mmpose')
    cfg = Config.fromfile(
        str(CONFIGS / 'poseur_hrnet-w48_8xb32-325e_coco-384x288.py'))
    assert tuple(cfg.codec.input_size) == (288, 384) and tuple(
        cfg.model.head.decoder.input_size) == (288, 384)
    assert tuple(cfg.model.backbone.extra.stage4.num_channels) == (48, 96, 192,
                                                                   384)
    assert cfg.model.neck.in_channels == [48, 96, 192, 384]
    assert 'hrnet_w48' in cfg.model.backbone.init_cfg.checkpoint
    types = [t['type'] for t in cfg.train_dataloader.dataset.pipeline]
    affine = types.index('TopdownAffine')
    assert types[affine + 1:affine +
                 3] == ['PhotometricDistortion', 'EllipseCutout']
    cutout = _transform(cfg.train_dataloader.dataset.pipeline, 'EllipseCutout')
    assert (cutout.prob, cutout.radius_factor, cutout.num_patches) == (1.0,
                                                                       0.2, 1)
    for loader in (cfg.val_dataloader, cfg.test_dataloader):
        assert tuple(
            _transform(loader.dataset.pipeline,
                       'TopdownAffine').input_size) == (288, 384)
    # the train pipeline runs on real images and gives 384x288 crops with
    # targets
    dataset = DATASETS.build(
        dict(
            type='CocoDataset',
            data_root=str(coco_fixtures),
            ann_file='test_coco.json',
            data_prefix=dict(img=''),
            data_mode='topdown',
            pipeline=cfg.train_dataloader.dataset.pipeline))
    np.random.seed(0)
    sample = dataset[0]
    assert tuple(sample['inputs'].shape) == (3, 384, 288)
    # the cutout's black ellipse
    assert (sample['inputs'] == 0).all(0).sum() > 0.05 * 384 * 288
    assert sample['data_samples'].gt_instance_labels.keypoint_labels.shape == (
        1, 17, 2)
