"""SCAI's rules around the correction: the frozen model's H_D is kept unless
the corrected map has a lower feedback error; a chain without a visible start
joint or with a non-finite error falls back to H_D (counted, never NaN);
selective adaptation adapts only the people whose score stands out against the
training people's, whose statistics stage 2 records; SCAIFeedbackMetric scores
what SCAI did to the distal keypoints."""
import copy
from unittest import mock

import numpy as np
import pytest
import torch
from mmengine.optim import OptimWrapper
from mmpose.registry import MODELS
from scai_testing import small_nets, tiny_scai

from mmpose_ext.models.scai import SCAIFeedbackMetric
from mmpose_ext.models.scai.evaluation import pearson

ESTIMATOR = 'mmpose_ext.models.scai.scai_estimator'


def _model(**test_cfg):
    torch.manual_seed(0)
    model = MODELS.build(
        tiny_scai(
            **small_nets(),
            test_cfg=dict(
                flip_test=False, **test_cfg, adapt=dict(enable=False,
                                                        steps=3))))
    model.init_weights()
    # a C that changes Φ's output (its zero-initialised last conv would not)
    torch.nn.init.normal_(model.correction.final.weight, std=0.05)
    return model.eval()


def _predict(model, batch, adapt=False):
    data = model.data_preprocessor(copy.deepcopy(batch), training=False)
    model.test_cfg['adapt']['enable'] = adapt
    ours = model.predict(data['inputs'], copy.deepcopy(data['data_samples']))
    base = model.base.predict(data['inputs'],
                              copy.deepcopy(data['data_samples']))
    return ours, base


def _field(samples, key):
    return np.concatenate([getattr(s.pred_instances, key) for s in samples])


def test_keep_rule_per_chain():
    model = _model()
    frozen = torch.zeros(2, 2, 4, 3)
    corrected = torch.ones(2, 2, 4, 3)
    error = torch.tensor([[1., 3.], [2., 2.]])
    error_frozen = torch.tensor([[2., 2.], [2., 1.]])
    visible = torch.ones(2, 2, dtype=torch.bool)
    out, kept, fallback = model.keep(frozen, corrected, error, error_frozen,
                                     visible)
    assert kept.tolist() == [[True, False], [False, False]]
    assert (out[kept] == 1).all() and (out[~kept] == 0).all()
    assert not fallback.any()
    # a margin asks for a clearer improvement
    model.test_cfg['keep_margin'] = 0.6
    _, kept, _ = model.keep(frozen, corrected, error, error_frozen, visible)
    assert not kept.any()
    # 'always' (the paper's text) uses every finite corrected map
    model.test_cfg.update(keep='always', keep_margin=0.0)
    _, kept, _ = model.keep(frozen, corrected, error, error_frozen, visible)
    assert kept.all()
    # non-finite maps and errors, invisible start joints: H_D, flagged
    corrected[0, 0, 1, 1] = float('nan')
    error[1, 0] = float('inf')
    visible[1, 1] = False
    out, kept, fallback = model.keep(frozen, corrected, error, error_frozen,
                                     visible)
    assert kept.tolist() == [[False, True], [False, False]]
    assert fallback.tolist() == [[2, 0], [2, 1]]
    assert torch.isfinite(out).all()
    model.test_cfg['keep'] = 'sometimes'
    with pytest.raises(ValueError, match='keep'):
        model.keep(frozen, corrected, error, error_frozen, visible)


@pytest.mark.parametrize('adapt', [False, True], ids=['plain', 'adapt'])
def test_no_visible_start_joint_falls_back_and_is_counted(adapt, coco_batch):
    """A start joint scored below ``min_root_score`` (here: above any heatmap's
    maximum, so no chain has one): the frozen model's keypoints, nobody
    adapted, every chain counted and said in the log."""
    model = _model(min_root_score=2.0)
    batch = {k: v[:3] for k, v in coco_batch.items()}
    with mock.patch(f'{ESTIMATOR}.print_log') as log:
        ours, base = _predict(model, batch, adapt)
    np.testing.assert_array_equal(
        _field(ours, 'keypoints'), _field(base, 'keypoints'))
    assert (_field(ours, 'scai_fallback') == 1).all()
    assert not _field(ours, 'scai_adapted').any()
    assert model.fallback_counts['no visible start joint'] == 3 * 6
    assert '18 of 18 distal heatmaps fell back' in log.call_args[0][0]
    assert 'no visible start joint: 18' in log.call_args[0][0]


@pytest.mark.parametrize('adapt', [False, True], ids=['plain', 'adapt'])
@pytest.mark.parametrize('broken', ['correction', 'feedback'])
def test_non_finite_feedback_error_falls_back_to_the_frozen_model(
        broken, adapt, coco_batch):
    """C emitting NaN, or Γ emitting NaN (so that no feedback error is
    finite): finite keypoints, the frozen model's, each chain counted as a
    non-finite fallback; no error is raised."""
    model = _model()
    net = model.correction if broken == 'correction' else model.gamma
    with torch.no_grad():
        net.final.bias.fill_(float('nan'))
    batch = {k: v[:2] for k, v in coco_batch.items()}
    with mock.patch(f'{ESTIMATOR}.print_log') as log:
        ours, base = _predict(model, batch, adapt)
    kpts = _field(ours, 'keypoints')
    assert np.isfinite(kpts).all()
    np.testing.assert_array_equal(kpts, _field(base, 'keypoints'))
    assert (_field(ours, 'scai_fallback') == 2).all()
    assert model.fallback_counts['non-finite feedback error'] == 2 * 6
    assert 'non-finite feedback error: 12' in log.call_args[0][0]
    errors = _field(ours, 'scai_error')
    if broken == 'correction':
        # the frozen map's error is what is reported
        np.testing.assert_array_equal(errors, _field(ours,
                                                     'scai_error_frozen'))
        assert np.isfinite(errors).all()
    else:
        assert np.isnan(errors).all()


def _train_correction(model, batch, steps=2):
    model.train_cfg['stage'] = 'correction'
    model._set_trainable()
    optim = OptimWrapper(
        torch.optim.Adam([p for p in model.parameters() if p.requires_grad],
                         lr=1e-4))
    model.train()
    for _ in range(steps):
        model.train_step(copy.deepcopy(batch), optim)
    return model.eval()


def test_stage_two_records_the_training_peoples_scores(coco_batch):
    model = _model()
    batch = {k: v[:4] for k, v in coco_batch.items()}
    assert (model.score_stats == 0).all()
    # stage 1 records nothing
    optim = OptimWrapper(
        torch.optim.Adam([p for p in model.parameters() if p.requires_grad],
                         lr=1e-4))
    model.train().train_step(copy.deepcopy(batch), optim)
    assert (model.score_stats == 0).all()
    _train_correction(model, batch, steps=2)
    assert model.score_stats[:, 0].tolist() == [8, 8]
    # C changed, Φ, Γ and the frozen model did not: both batches gave the
    # same scores, so the mean is that batch's and the spread 0
    data = model.data_preprocessor(copy.deepcopy(batch), training=False)
    heatmaps, f = model.base_heatmaps_flip(data['inputs'],
                                           data['data_samples'])
    nodes = model.chains.node_heatmaps(heatmaps)
    with torch.no_grad():
        _, info = model.correct(nodes, f)
        raw = model.raw_scores(nodes, info['error_frozen']).double()
    torch.testing.assert_close(model.score_stats[:, 1], raw.mean(0))
    torch.testing.assert_close(model.score_stats[:, 2],
                               ((raw - raw.mean(0))**2).sum(0) * 2)
    # saved with the weights
    assert 'score_stats' in model.state_dict()


@pytest.mark.parametrize('select', ['feedback', 'free_energy'])
def test_selective_adaptation_adapts_whom_the_score_picks(select, coco_batch):
    model = _train_correction(_model(), {
        k: v[:6]
        for k, v in coco_batch.items()
    })
    batch = {k: v[:4] for k, v in coco_batch.items()}
    model.test_cfg['adapt'].update(select=select, select_z=float('inf'))
    ours, base = _predict(model, batch, adapt=True)
    z = _field(ours, 'scai_select_z')
    assert np.isfinite(z).all() and not _field(ours, 'scai_adapted').any()
    model.test_cfg['adapt']['select_z'] = float(np.median(z))
    ours, _ = _predict(model, batch, adapt=True)
    adapted = _field(ours, 'scai_adapted')
    np.testing.assert_array_equal(adapted,
                                  _field(ours, 'scai_select_z') > np.median(z))
    assert 0 < adapted.sum() < len(adapted)
    # without the training statistics: everyone, with a warning
    model.score_stats.zero_()
    with mock.patch(f'{ESTIMATOR}.print_log') as log:
        ours, _ = _predict(model, batch, adapt=True)
    assert _field(ours, 'scai_adapted').all()
    assert any('selective adaptation needs' in c[0][0]
               for c in log.call_args_list)
    model.test_cfg['adapt']['select'] = 'oracle'
    with pytest.raises(ValueError, match='select'):
        _predict(model, batch, adapt=True)


def _sample(pred, frozen, gt, error_frozen, error, kept, adapted=False):
    """A data sample dict as MMEngine's evaluator hands it to a metric: K = 17,
    person box 100 x 50."""
    return dict(
        pred_instances=dict(
            keypoints=pred[None],
            scai_frozen_keypoints=frozen[None],
            scai_error=np.asarray(error, np.float32)[None],
            scai_error_frozen=np.asarray(error_frozen, np.float32)[None],
            scai_kept=np.asarray(kept)[None],
            scai_adapted=np.asarray([adapted]),
            scai_fallback=np.zeros((1, 6), np.uint8)),
        gt_instances=dict(
            keypoints=gt[None],
            keypoints_visible=np.ones((1, 17)),
            bboxes=np.array([[0., 0., 100., 50.]])))


def test_feedback_metric_on_hand_made_people():
    """Three people; the distal keypoints (COCO: ears 3, 4, wrists 9, 10,
    ankles 15, 16) of SCAI's output move 5 px (in PCK@0.1 of the 100-px box)
    where the frozen model's were 15 px off (out) in the first person."""
    distal = [3, 4, 9, 10, 15, 16]
    gt = np.zeros((17, 2))
    rng = np.random.default_rng(0)
    samples, fb, true = [], [], []
    for i in range(3):
        frozen = gt.copy()
        frozen[distal, 0] = 15.0 if i == 0 else 2.0
        pred = frozen.copy()
        if i == 0:
            pred[distal, 0] = 5.0
        error_frozen = rng.random(6)
        fb.append(error_frozen)
        true.append(frozen[distal, 0] / 100)
        samples.append(
            _sample(
                pred,
                frozen,
                gt,
                error_frozen,
                error_frozen, [i == 0] * 6,
                adapted=i == 0))
    metric = SCAIFeedbackMetric(prefix='x')
    metric.process({}, samples)
    out = metric.compute_metrics(metric.results)
    assert out['distal PCK@0.1'] == 1.0
    assert out['frozen distal PCK@0.1'] == pytest.approx(2 / 3)
    assert out['frozen distal err/box'] == pytest.approx((0.15 + 0.04) / 3)
    assert out['r(feedback, error)'] == pytest.approx(
        pearson(np.concatenate(fb), np.concatenate(true)))
    assert out['kept'] == pytest.approx(1 / 3)
    assert out['adapted'] == pytest.approx(1 / 3)
    assert (out['better'], out['worse'], out['fallback']) == (6, 0, 0)
    bad = copy.deepcopy(samples[0])
    del bad['pred_instances']['scai_error_frozen']
    with pytest.raises(ValueError, match='SCAIPoseEstimator'):
        metric.process({}, [bad])
