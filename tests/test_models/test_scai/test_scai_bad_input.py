"""SCAI on awkward input: batch size 1 and bf16 autocast on the CPU train both
stages and predict with and without test-time adaptation (finite losses and
keypoints); a NaN in the input or the targets stops the step before the
optimizer update, naming SCAIPoseEstimator, the term and the iteration."""
import copy

import numpy as np
import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.optim import OptimWrapper
from mmpose.registry import MODELS
from scai_testing import small_nets, tiny_scai

from mmpose_ext.models.common import NonFiniteError


def _model(stage):
    torch.manual_seed(0)
    # BatchNorm in Φ / Γ / C, as the configs have it: batch statistics of a
    # single instance must work too
    model = MODELS.build(
        tiny_scai(
            **small_nets(norm_cfg=dict(type='BN')),
            train_cfg=dict(stage=stage),
            test_cfg=dict(flip_test=True, adapt=dict(enable=False, steps=3))))
    model.init_weights()
    # a C whose adaptation does something
    torch.nn.init.normal_(model.correction.final.weight, std=0.05)
    return model


def _train_steps(model, batch, steps=2):
    optim = OptimWrapper(
        torch.optim.Adam([p for p in model.parameters() if p.requires_grad],
                         lr=1e-3))
    model.train()
    return [
        model.train_step(copy.deepcopy(batch), optim) for _ in range(steps)
    ]


def _predict(model, batch, adapt):
    model.eval()
    model.test_cfg['adapt']['enable'] = adapt
    out = model.test_step(copy.deepcopy(batch))
    kpts = np.stack([s.pred_instances.keypoints for s in out])
    scores = np.stack([s.pred_instances.keypoint_scores for s in out])
    errors = np.stack([s.pred_instances.scai_error for s in out])
    return kpts, scores, errors


@pytest.mark.parametrize('stage', ['phi_gamma', 'correction'])
@pytest.mark.parametrize('bf16', [False, True], ids=['fp32', 'bf16'])
def test_batch_one_and_bf16_train_and_predict(stage, bf16, coco_batch):
    model = _model(stage)
    one = {k: v[:1] for k, v in coco_batch.items()}
    with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
        logs = _train_steps(model, one)  # stage 1: a Φ step and a Γ step
        for adapt in (False, True):
            kpts, scores, errors = _predict(model, one, adapt)
            assert kpts.shape == (1, 1, 17, 2)
            assert np.isfinite(kpts).all() and np.isfinite(
                scores).all() and np.isfinite(errors).all(), adapt
    assert all(torch.isfinite(v).all() for log in logs
               for v in log.values()), logs
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_bf16_predictions_follow_fp32(coco_batch):
    """bf16 autocast changes SCAI's keypoints by rounding only (without
    adaptation, whose Adam steps amplify rounding differences; see
    mmpose_ext.models.scai.adaptation)."""
    model = _model('correction')
    batch = {k: v[:4] for k, v in coco_batch.items()}
    kpts, _, _ = _predict(model, batch, adapt=False)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        kpts_bf16, _, _ = _predict(model, batch, adapt=False)
    assert np.median(np.abs(kpts_bf16 - kpts)) < 1.0  # image pixels


def _nan_image(batch):
    batch = copy.deepcopy(batch)
    image = batch['inputs'][1].float()
    image[:, 10:20, 10:20] = float('nan')
    batch['inputs'][1] = image
    return batch


class _Iteration:
    """MMEngine's message hub says iteration ``n`` (as the Runner's
    RuntimeInfoHook does), restored on exit."""

    def __init__(self, n):
        self.n, self.hub = n, MessageHub.get_current_instance()

    def __enter__(self):
        self.previous = self.hub.get_info('iter')
        self.hub.update_info('iter', self.n)

    def __exit__(self, *exc):
        self.hub.update_info('iter', self.previous)


@pytest.mark.parametrize('stage', ['phi_gamma', 'correction'])
def test_nan_input_stops_the_step_before_anything_changes(stage, coco_batch):
    model = _model(stage)
    batch = _nan_image({k: v[:2] for k, v in coco_batch.items()})
    before = copy.deepcopy(model.state_dict())
    with _Iteration(7), pytest.raises(
            NonFiniteError,
            match=r'SCAIPoseEstimator: non-finite input at iteration 7: '
            r'frozen_model_heatmaps \(\d+ NaN'):
        _train_steps(model, batch, steps=1)
    for name, value in model.state_dict().items():
        # weights and BatchNorm statistics
        assert torch.equal(value, before[name]), name
    with pytest.raises(
            NonFiniteError,
            match=
            r'non-finite prediction: keypoint_scores.*frozen_model_heatmaps'):
        _predict(model, batch, adapt=True)


def test_nan_target_and_diverged_loss_are_named(coco_batch):
    model = _model('phi_gamma')
    batch = copy.deepcopy({k: v[:2] for k, v in coco_batch.items()})
    bad = copy.deepcopy(batch)
    bad['data_samples'][0].gt_fields.heatmaps[3, 0, 0] = float('inf')
    with pytest.raises(
            NonFiniteError, match=r'target_heatmaps \(0 NaN, 1 Inf'):
        _train_steps(model, bad, steps=1)
    with torch.no_grad():
        model.phi.final.bias[0] = float('nan')  # Φ diverged
    optim = OptimWrapper(
        torch.optim.Adam([p for p in model.parameters() if p.requires_grad],
                         lr=1e-3))
    with _Iteration(3), pytest.raises(
            NonFiniteError,
            match=r'non-finite loss at iteration 3: loss_phi \(1 NaN.*'
            r'stopped before the optimizer update'):
        model.train().train_step(copy.deepcopy(batch), optim)
    assert not optim.optimizer.state  # no step taken
