"""Every module mmpose_ext registers builds from a minimal config, and a backward pass reaches every
parameter (and the inputs). A module registered without a case here fails the first test.

A case is ``name → (minimal config, run)``, where ``run(module)`` performs a representative forward
(for a head: its ``loss`` with data samples, so the loss modules' parameters take part too) and returns
``(scalar to backpropagate, input tensors that must receive a gradient)``.
"""
import pytest
import torch

from mmpose.registry import KEYPOINT_CODECS, MODELS


def _ours(registry):
    return {name for name, cls in registry.module_dict.items() if cls.__module__.startswith('mmpose_ext')}


def _run_rle_flow_loss(loss):
    pred = torch.rand(3, 17, 2, requires_grad=True)
    sigma = torch.randn(3, 17, 2, requires_grad=True)
    return loss(pred, sigma, pred.detach() + 0.05, torch.ones(3, 17, 1)), (pred, sigma)


def _run_scorer(scorer):
    sigma = (torch.rand(3, 17, 2) * 0.3 + 0.01).requires_grad_(True)
    return scorer(sigma).sum(), (sigma, )


def _run_dcc(dcc):
    feats = torch.randn(4, 32, requires_grad=True)
    boxes = torch.tensor([[10.0, 20.0, 60.0, 120.0]]).repeat(4, 1).requires_grad_(True)
    x_logits, y_logits, kpts, sigma = dcc(feats, boxes, boxes.detach()[:, :2])
    return kpts.mean() + sigma.mean() + x_logits.mean() + y_logits.mean(), (feats, boxes)


def _run_coord_mle_loss(loss):
    x_logits = torch.randn(3, 14, 8, requires_grad=True)
    y_logits = torch.randn(3, 14, 10, requires_grad=True)
    sigma = (torch.rand(3, 14) * 0.1).requires_grad_(True)
    targets = torch.rand(3, 14, 2) * 8
    out = loss(x_logits, y_logits, torch.arange(8.0), torch.arange(10.0), sigma, targets,
               torch.ones(3, 14), torch.full((3, ), 64.0))
    return out, (x_logits, y_logits, sigma)


def _run_sine_cc_head(head):
    from mmengine.structures import InstanceData

    from mmpose.structures import PoseDataSample

    samples = []
    for _ in range(3):
        sample = PoseDataSample()
        sample.gt_instance_labels = InstanceData(keypoint_labels=torch.rand(1, 14, 2),
                                                 keypoint_weights=torch.ones(1, 14))
        samples.append(sample)
    feats = torch.randn(3, 16, 2, 2, requires_grad=True)
    return head.loss((feats, ), samples)['loss_kpt'], (feats, )


MODEL_CASES = {
    'RLEFlowLoss': (dict(type='RLEFlowLoss', use_target_weight=True), _run_rle_flow_loss),
    'LaplaceIntegralScorer': (dict(type='LaplaceIntegralScorer'), _run_scorer),
    'DynamicCoordinateClassifier': (dict(type='DynamicCoordinateClassifier', in_channels=32, num_keypoints=17,
                                         feat_channels=16, num_bins=(12, 16), spe_channels=8,
                                         gau_cfg=dict(s=8, pos_enc='add')), _run_dcc),
    'CoordMLELoss': (dict(type='CoordMLELoss'), _run_coord_mle_loss),
    'SineCoordClsHead': (dict(type='SineCoordClsHead', in_channels=16, num_keypoints=14, input_size=(16, 24),
                              in_featuremap_size=(2, 2), feat_channels=16, spe_channels=8,
                              gau_cfg=dict(s=8, pos_enc='add')), _run_sine_cc_head),
}
CODEC_CASES = {
    'LaplaceRegressionLabel': dict(type='LaplaceRegressionLabel', input_size=(192, 256)),
}


def test_every_registered_module_has_a_case():
    assert _ours(MODELS) == set(MODEL_CASES)
    assert _ours(KEYPOINT_CODECS) == set(CODEC_CASES)


@pytest.mark.parametrize('name', sorted(MODEL_CASES))
def test_build_and_backward(name):
    cfg, run = MODEL_CASES[name]
    module = MODELS.build(cfg)
    scalar, grad_inputs = run(module)
    assert scalar.dim() == 0 and torch.isfinite(scalar), scalar
    scalar.backward()
    for t in grad_inputs:
        assert t.grad is not None and t.grad.abs().sum() > 0
    for pname, p in module.named_parameters():
        if p.requires_grad:
            assert p.grad is not None, f'{name}.{pname} got no gradient'
            assert torch.isfinite(p.grad).all(), f'{name}.{pname} has a non-finite gradient'


@pytest.mark.parametrize('name', sorted(CODEC_CASES))
def test_codecs_build(name):
    codec = KEYPOINT_CODECS.build(CODEC_CASES[name])
    assert type(codec).__name__ == name
