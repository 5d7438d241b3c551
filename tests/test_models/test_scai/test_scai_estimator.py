"""SCAIPoseEstimator on a tiny MMPose heatmap model and the bundled fixtures:

it builds from configs for K=17 and K=14, keeps the wrapped model frozen,
matches MMPose's own predictions where it does not correct, trains Φ/Γ
(alternating) and C through MMEngine's train_step with falling losses.
"""
import copy

import numpy as np
import pytest
import torch
from mmengine.optim import OptimWrapper
from mmengine.registry import DefaultScope
from mmpose.registry import MODELS
from scai_testing import tiny_base_model, tiny_scai


def _build(**kwargs):
    model = MODELS.build(tiny_scai(**kwargs))
    model.init_weights()
    return model


@pytest.fixture(scope='module')
def coco_model():
    torch.manual_seed(0)
    return _build().eval()


def test_builds_and_freezes_the_wrapped_model(coco_model):
    model = coco_model
    assert type(model.base).__name__ == 'TopdownPoseEstimator'
    assert not any(p.requires_grad for p in model.base.parameters())
    assert all(p.requires_grad for p in model.phi.parameters())
    assert all(p.requires_grad for p in model.gamma.parameters())
    # stage 'phi_gamma'
    assert not any(p.requires_grad for p in model.correction.parameters())
    model.train()
    assert (model.phi.training and not model.base.training
            and not model.correction.training)
    model.eval()


@pytest.mark.parametrize('case', ['coco', 'crowdpose'])
def test_predict_returns_mmpose_data_samples(case, coco_model, coco_batch,
                                             crowdpose_batch):
    if case == 'coco':
        model, batch, k, m = coco_model, coco_batch, 17, 6
    else:
        model, batch, k, m = _build(
            num_keypoints=14,
            chains='crowdpose').eval(), crowdpose_batch, 14, 4
    data = model.data_preprocessor(copy.deepcopy(batch), training=False)
    assert model(
        data['inputs'], None,
        mode='tensor').shape == (len(batch['inputs']), k, 16, 12)
    samples = model(**data, mode='predict')
    assert len(samples) == len(batch['inputs'])
    for s in samples:
        pred = s.pred_instances
        assert pred.keypoints.shape == (
            1, k, 2) and pred.keypoint_scores.shape == (1, k)
        assert pred.scai_error.shape == (1, m) and np.isfinite(
            pred.scai_error).all()
        assert 'bboxes' in pred


@pytest.mark.parametrize('keep', ['always', 'feedback'])
def test_uncorrected_keypoints_equal_mmpose_prediction(keep, coco_model,
                                                       coco_batch):
    """Keypoints no chain ends at come out exactly as MMPose's
    TopdownPoseEstimator.predict gives them (flip test included); with C at its
    zero init, the distal ones are Φ's decoded heatmaps (``keep='always'``), or
    per chain Φ's where its feedback error is below that of the frozen model's
    map and MMPose's elsewhere (``keep='feedback'``)."""
    model = coco_model
    model.test_cfg['keep'] = keep
    batch = coco_batch
    data = model.data_preprocessor(copy.deepcopy(batch), training=False)
    try:
        ours = model.predict(data['inputs'],
                             copy.deepcopy(data['data_samples']))
    finally:
        model.test_cfg['keep'] = 'feedback'
    mmpose = model.base.predict(data['inputs'],
                                copy.deepcopy(data['data_samples']))
    keep_ids = [k for k in range(17) if k not in model.chains.distal]
    for a, b in zip(ours, mmpose):
        np.testing.assert_allclose(a.pred_instances.keypoints[:, keep_ids],
                                   b.pred_instances.keypoints[:, keep_ids])
        np.testing.assert_allclose(
            a.pred_instances.keypoint_scores[:, keep_ids],
            b.pred_instances.keypoint_scores[:, keep_ids])
        np.testing.assert_allclose(a.pred_instances.scai_frozen_keypoints,
                                   b.pred_instances.keypoints)
    heatmaps, f = model.base_heatmaps_flip(data['inputs'],
                                           data['data_samples'])
    with torch.no_grad():
        phi_out = model.predict_distal(model.chains.node_heatmaps(heatmaps), f)
    # (1, M, 2) per instance, heatmap input space
    decoded = model.base.head.decode(phi_out)
    kept_any = False
    for s, d, b, sample in zip(ours, decoded, mmpose, data['data_samples']):
        scale, center = sample.metainfo['input_scale'], sample.metainfo[
            'input_center']
        size = sample.metainfo['input_size']
        kept = s.pred_instances.scai_kept[0]  # (M,)
        if keep == 'always':
            assert kept.all()
        kept_any |= kept.any()
        phi_kpts = d.keypoints / size * scale + center - 0.5 * scale
        expected = np.where(kept[None, :, None], phi_kpts,
                            b.pred_instances.keypoints[:, model.chains.distal])
        np.testing.assert_allclose(
            s.pred_instances.keypoints[:, model.chains.distal],
            expected,
            rtol=1e-5,
            atol=1e-4)
        # the reported error is that of the decoded map
        np.testing.assert_allclose(
            s.pred_instances.scai_error,
            np.where(kept, s.pred_instances.scai_error,
                     s.pred_instances.scai_error_frozen))
    assert kept_any
    assert len(batch['inputs']) == len(ours)


def _train(model, batch, steps, lr=1e-3):
    optim = OptimWrapper(
        torch.optim.Adam([p for p in model.parameters() if p.requires_grad],
                         lr=lr))
    model.train()
    return [{
        k: float(v)
        for k, v in model.train_step(copy.deepcopy(batch), optim).items()
    } for _ in range(steps)]


def test_training_steps_lower_the_losses_and_leave_the_base_alone(coco_batch):
    torch.manual_seed(0)
    model = _build(train_cfg=dict(stage='phi_gamma', alternate=True))
    base_state = copy.deepcopy(model.base.state_dict())
    logs = _train(model, coco_batch, 12)
    # alternating: Φ on even iterations, Γ on odd ones
    assert [set(k for k in log if k.startswith('loss_'))
            for log in logs[:2]] == [{'loss_phi'}, {'loss_gamma'}]
    phi = [log['loss_phi'] for log in logs[0::2]]
    gamma = [log['loss_gamma'] for log in logs[1::2]]
    assert phi[-1] < 0.7 * phi[0], phi
    assert gamma[-1] < 0.7 * gamma[0], gamma

    model.train_cfg['stage'] = 'correction'
    model._set_trainable()
    phi_state = copy.deepcopy(model.phi.state_dict())
    logs = _train(model, coco_batch, 8, lr=4.1e-4)
    total = [log['loss'] for log in logs]
    assert set(logs[0]) >= {'loss_l0', 'loss_l1', 'loss_consistency'}
    assert total[-1] < total[0], total
    # weights and BatchNorm statistics
    for name, value in model.base.state_dict().items():
        assert torch.equal(value, base_state[name]), name
    for name, value in model.phi.state_dict().items():
        assert torch.equal(value, phi_state[name]), name


def test_gamma_untouched_on_phi_iterations(coco_batch):
    model = _build()
    gamma = copy.deepcopy(model.gamma.state_dict())
    _train(model, coco_batch, 1)  # a Φ iteration
    for name, value in model.gamma.state_dict().items():
        if 'running' not in name and 'num_batches' not in name:
            assert torch.equal(value, gamma[name]), name


def test_base_checkpoint_loaded_by_init_weights(tmp_path):
    torch.manual_seed(1)
    # a bare MMPose model needs its scope
    with DefaultScope.overwrite_default_scope('mmpose'):
        other = MODELS.build(tiny_base_model())
    path = tmp_path / 'base.pth'
    torch.save(dict(state_dict=other.state_dict()), path)
    model = MODELS.build(tiny_scai(base_checkpoint=str(path)))
    model.init_weights()
    for name, value in other.state_dict().items():
        assert torch.equal(model.base.state_dict()[name], value), name


def test_bad_configurations():
    with pytest.raises(ValueError, match='predicts 14'):
        MODELS.build(tiny_scai(num_keypoints=14, chains='coco'))
    with pytest.raises(ValueError, match='stage'):
        MODELS.build(tiny_scai(train_cfg=dict(stage='all')))
    with pytest.raises(ValueError, match='feature_source'):
        MODELS.build(tiny_scai(feature_source='neck'))


def test_features_for_picks_which_network_sees_the_image_features(coco_batch):
    model = _build(features_for=('phi', ))
    assert model.phi.feat_proj is not None and model.gamma.feat_proj is None
    data = model.data_preprocessor(copy.deepcopy(coco_batch), training=False)
    assert model(
        data['inputs'][:2], None, mode='tensor').shape == (2, 17, 16, 12)
    with pytest.raises(ValueError, match='features_for'):
        MODELS.build(tiny_scai(features_for=('correction', )))


def test_tensor_path_exports_to_onnx(coco_model, tmp_path):
    """Frozen model → virtual root → Φ → Γ → C → corrected heatmaps, as one
    ONNX graph (opset 17)."""
    pytest.importorskip('onnxruntime')
    from mmpose_ext.deploy import check_onnx, export_onnx

    path = export_onnx(
        coco_model, tmp_path / 'scai.onnx', input_shape=(1, 3, 64, 48))
    assert check_onnx(coco_model, path, torch.randn(3, 3, 64, 48)) <= 1e-4


def test_phi_residual_starts_at_the_frozen_model(coco_batch):
    """phi_residual: Φ and C both start at zero, so every keypoint equals
    MMPose's own prediction."""
    model = _build(phi_residual=True).eval()
    data = model.data_preprocessor(copy.deepcopy(coco_batch), training=False)
    ours = model.predict(data['inputs'][:4],
                         copy.deepcopy(data['data_samples'][:4]))
    mmpose = model.base.predict(data['inputs'][:4],
                                copy.deepcopy(data['data_samples'][:4]))
    for a, b in zip(ours, mmpose):
        np.testing.assert_allclose(
            a.pred_instances.keypoints,
            b.pred_instances.keypoints,
            rtol=1e-6,
            atol=1e-4)


def _samples(n, weight):
    from mmengine.structures import InstanceData, PixelData
    from mmpose.structures import PoseDataSample
    samples = []
    for _ in range(n):
        s = PoseDataSample()
        s.gt_fields = PixelData(heatmaps=torch.rand(17, 16, 12))
        s.gt_instance_labels = InstanceData(
            keypoint_weights=torch.full((1, 17), weight))
        samples.append(s)
    return samples


def test_invisible_keypoints_and_empty_batches(coco_model):
    model = coco_model
    for stage in ('phi_gamma', 'correction'):
        model.train_cfg['stage'] = stage
        # nothing labelled
        losses = model.loss(torch.rand(2, 3, 64, 48), _samples(2, 0.0))
        assert all(torch.isfinite(v) and v == 0
                   for v in losses.values()), losses
    model.train_cfg['stage'] = 'phi_gamma'
    with pytest.raises(ValueError, match='empty batch'):
        model.loss(torch.rand(0, 3, 64, 48), [])
    bad = _samples(1, 1.0)
    bad[0].gt_fields = bad[0].gt_fields.__class__(
        heatmaps=torch.rand(14, 16, 12))
    with pytest.raises(ValueError, match='14 keypoints'):
        model.loss(torch.rand(1, 3, 64, 48), bad)
