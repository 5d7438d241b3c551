"""SCAI's correction learns and never makes the frozen model worse: the
learning check (``mmpose_ext.benchmark.learning_check``) for SCAI.

Setting (about 25 s on 2 cores): 120 generated images (~290 people) to train
on and 40 (~100 people) held out, cropped at 64x48 by MMPose's top-down
pipeline; the ImageNet EfficientNet-Lite0's outputs are computed once and
frozen.

1. The frozen base: the synthetic heatmap config's neck and head, trained 150
   iterations on the cached features (the learning check's recipe: the
   config's optimizer and codec, warm-up + cosine).
2. SCAI on it as the synthetic SCAI config builds it (its chains, Φ residual,
   Γ without image features, the keep rule), with Φ and Γ of 5 layers of 16
   channels and C of 3 (the config: 13 / 13 / 7 of 64): Φ and Γ 200
   alternating iterations, then C 100, through ``SCAIPoseEstimator.loss``.
3. On the held-out people, no flip: (a) SCAI's six corrected (distal)
   keypoints beat the training mean pose clearly (the check's criterion:
   PCK@0.1 at least 0.05 above it, median error at most 0.9 of it), and (b)
   they are not worse than the frozen base's beyond ``MARGIN``.

The check can fail: an untrained C (its last conv not zero-initialised) whose
output replaces the distal heatmaps unconditionally (``keep='always'``) fails
(b) on the same weights.
"""
import copy

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmpose.registry import MODELS

from mmpose_ext.benchmark.learning_check import (_codec_of, _encode, _Features,
                                                 _schedule, build_model,
                                                 make_probe_data,
                                                 with_input_size)
from mmpose_ext.resources import configs_dir

SYN = configs_dir() / 'synthetic'
HEATMAP = SYN / 'td-hm_effnet-lite0_synthetic-128x96.py'
SCAI = SYN / 'scai_td-hm-effnet-lite0_synthetic-128x96.py'
INPUT = (48, 64)  # (w, h)
#: (b): SCAI's distal PCK@0.1 at most this far below the frozen base's, its
#: mean distal error at most this fraction above
MARGIN = dict(pck=0.01, err=0.02)
SMALL = dict(width=16, feat_proj_channels=8)


def _err(pred, split, joints):
    """(N, J) error / box size of ``joints`` and their visibility."""
    err = np.linalg.norm(pred[:, joints] - split.keypoints[:, joints], axis=-1)
    return err / split.box_size[:, None], split.visible[:, joints]


def scores(pred, split, joints):
    err, vis = _err(pred, split, joints)
    err = err[vis]
    return dict(
        err=float(err.mean()),
        median=float(np.median(err)),
        pck01=float((err < 0.1).mean()))


def _train(model, params, lr, iters, step_loss, seed=0):
    """Adam with the learning check's warm-up + cosine."""
    optim = torch.optim.Adam(params, lr=lr)
    gen = torch.Generator().manual_seed(seed)
    for step in range(iters):
        for g in optim.param_groups:
            g['lr'] = lr * _schedule(step, iters, max(1, iters // 10))
        loss = step_loss(gen)
        optim.zero_grad()
        loss.backward()
        optim.step()


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    previous = torch.get_num_threads()
    torch.set_num_threads(2)  # CI's two cores; the suite's default is one
    probe = make_probe_data(
        tmp_path_factory.mktemp('scai_learns'),
        num_train_images=120,
        num_val_images=40,
        input_size=INPUT,
        workers=2)
    torch.manual_seed(0)
    # 1. the frozen base: heatmap neck + head on cached ImageNet features
    base_cfg = with_input_size(Config.fromfile(str(HEATMAP)), INPUT)
    base = build_model(base_cfg)
    feats = _Features(base, probe, trained=False)
    codec = _codec_of(base_cfg)
    train_samples = _encode(probe.train.results, codec)
    val_samples = _encode(probe.val.results, codec)
    optim = build_optim_wrapper(base, copy.deepcopy(base_cfg.optim_wrapper))
    lr0 = [g['lr'] for g in optim.optimizer.param_groups]
    n = len(train_samples)
    gen = torch.Generator().manual_seed(0)
    base.train()
    base.backbone.eval()
    for step in range(150):
        for g, lr in zip(optim.optimizer.param_groups, lr0):
            g['lr'] = lr * _schedule(step, 150, 15)
        index = torch.randperm(n, generator=gen)[:16]
        losses = base.head.loss(
            feats('train', index), [train_samples[i] for i in index])
        optim.update_params(sum(v for k, v in losses.items() if 'loss' in k))

    # 2. SCAI on it, as the synthetic SCAI config builds it, smaller
    cfg = Config.fromfile(str(SCAI)).model
    cfg.base_model = base_cfg.model
    cfg.base_checkpoint = None
    cfg.phi = dict(type='SCAIPredictionNet', num_layers=5, **SMALL)
    cfg.gamma = dict(type='SCAIFeedbackNet', num_layers=5, **SMALL)
    cfg.correction = dict(type='SCAICorrectionNet', num_layers=3, width=16)
    cfg.test_cfg.flip_test = False
    with DefaultScope.overwrite_default_scope('mmpose'):
        model = MODELS.build(cfg)
    model.init_weights()
    model.base.load_state_dict(base.state_dict())
    images = probe.train.images

    def batch(gen):
        index = torch.randperm(n, generator=gen)[:16]
        return images[index], [train_samples[i] for i in index]

    def loss(gen):
        return sum(v for k, v in model.loss(*batch(gen)).items()
                   if k.startswith('loss'))

    for stage, lr, iters in (('phi_gamma', 1e-3, 200), ('correction', 1e-3,
                                                        100)):
        model.train_cfg['stage'] = stage
        model._set_trainable()
        model.train()
        _train(model, [p for p in model.parameters() if p.requires_grad], lr,
               iters, loss)
    yield probe, model.eval(), val_samples
    torch.set_num_threads(previous)


def _predict(model, probe, samples):
    """Frozen base and SCAI keypoints (N, K, 2) of the held-out crops, crop
    pixels, no flip."""
    with torch.no_grad():
        frozen, corrected, info = model._corrected_heatmaps(
            probe.val.images, samples, adapt=False)

    def decode(heatmaps):
        return np.stack(
            [p.keypoints[0] for p in model.base.head.decode(heatmaps)])

    return decode(frozen), decode(corrected), info


def _check(model, probe, samples):
    distal = model.chains.distal
    frozen, scai, info = _predict(model, probe, samples)
    mean_pose = np.broadcast_to(probe.mean_pose(), probe.val.keypoints.shape)
    rows = {
        name: scores(pred, probe.val, distal)
        for name, pred in (('scai', scai), ('frozen', frozen), ('mean pose',
                                                                mean_pose))
    }
    print({
        k: {
            m: round(v, 3)
            for m, v in r.items()
        }
        for k, r in rows.items()
    }, 'kept', float(info['kept'].float().mean()))
    return rows


def learned(rows) -> bool:
    """(a): clearly better than the mean pose on the distal keypoints."""
    scai, mean = rows['scai'], rows['mean pose']
    return (scai['pck01'] >= mean['pck01'] + 0.05
            and scai['median'] <= 0.9 * mean['median'])


def not_worse(rows) -> bool:
    """(b): not worse than the frozen base beyond MARGIN."""
    scai, frozen = rows['scai'], rows['frozen']
    return (scai['pck01'] >= frozen['pck01'] - MARGIN['pck']
            and scai['err'] <= frozen['err'] * (1 + MARGIN['err']))


def test_scai_correction_learns_and_is_never_worse(trained):
    probe, model, samples = trained
    rows = _check(model, probe, samples)
    assert learned(rows), rows
    assert not_worse(rows), rows


def test_an_untrained_unconditional_correction_fails(trained):
    """C at PyTorch's default init, replacing every distal heatmap: the check
    says it is worse than the frozen base."""
    probe, model, samples = trained
    broken = copy.deepcopy(model)
    m = broken.chains.num_chains
    torch.manual_seed(1)
    broken.correction = MODELS.build(
        dict(
            type='SCAICorrectionNet',
            in_channels=2 * m,
            out_channels=m,
            num_layers=3,
            width=16,
            zero_init_last=False)).eval()
    broken.test_cfg['keep'] = 'always'
    rows = _check(broken, probe, samples)
    assert not not_worse(rows), rows
    # the same untrained C under the keep rule: the frozen maps stay
    broken.test_cfg['keep'] = 'feedback'
    assert not_worse(_check(broken, probe, samples))
