"""Every module mmpose_ext registers builds from a minimal config, and a
backward pass reaches every parameter (and the inputs). A module registered
without a case here fails the first test.

A case is ``name → (minimal config, run)``, where ``run(module)`` performs a
representative forward (for a head: its ``loss`` with data samples, so the loss
modules' parameters take part too) and returns ``(scalar to backpropagate,
input tensors that must receive a gradient)``. A module with no trainable
parameter and nothing to learn (the no-skill ``MeanPoseBaseline``) returns a
scalar without a gradient and no inputs; the test then checks it really has no
trainable parameter instead of backpropagating.
"""
import pytest
import torch
from mmpose.registry import KEYPOINT_CODECS, MODELS


def _ours(registry):
    return {
        name
        for name, cls in registry.module_dict.items()
        if cls.__module__.startswith('mmpose_ext')
    }


def _run_rle_flow_loss(loss):
    pred = torch.rand(3, 17, 2, requires_grad=True)
    sigma = torch.randn(3, 17, 2, requires_grad=True)
    return loss(pred, sigma,
                pred.detach() + 0.05, torch.ones(3, 17, 1)), (pred, sigma)


def _run_float32_rle_head(head):
    from mmengine.structures import InstanceData
    from mmpose.structures import PoseDataSample
    samples = []
    for _ in range(3):
        sample = PoseDataSample(
            metainfo=dict(flip_indices=list(range(5)), input_size=(48, 64)))
        sample.gt_instance_labels = InstanceData(
            keypoint_labels=torch.rand(1, 5, 2),
            keypoint_weights=torch.ones(1, 5))
        samples.append(sample)
    feats = torch.randn(3, 8, requires_grad=True)
    return head.loss((feats, ), samples)['loss_kpt'], (feats, )


def _run_scorer(scorer):
    sigma = (torch.rand(3, 17, 2) * 0.3 + 0.01).requires_grad_(True)
    return scorer(sigma).sum(), (sigma, )


def _run_scai_net(in_channels, feat_channels):

    def run(net):
        heatmaps = torch.rand(2, in_channels, 8, 6, requires_grad=True)
        feats = torch.rand(
            2, feat_channels, 4, 3,
            requires_grad=True) if feat_channels else None
        out = net(heatmaps, feats)
        return out.pow(2).mean(), (heatmaps, ) + (
            (feats, ) if feats is not None else ())

    return run


def _run_scai_heatmap_loss(loss):
    pred = torch.rand(2, 3, 8, 6, requires_grad=True)
    return loss(pred, torch.rand(2, 3, 8, 6), torch.ones(2, 3)), (pred, )


def _run_scai_correction_loss(loss):
    corrected = torch.rand(2, 3, 8, 6, requires_grad=True)
    feedback = torch.rand(2, 3, 8, 6, requires_grad=True)
    out = loss(corrected, torch.rand(2, 3, 8, 6), feedback,
               torch.rand(2, 3, 8, 6), torch.rand(2, 3, 8, 6))
    return sum(out.values()), (corrected, feedback)


def _heatmap_samples(n: int, K: int, H: int, W: int) -> list:
    """``n`` data samples with random (K, H, W) target heatmaps and all K
    keypoints weighted 1."""
    from mmengine.structures import InstanceData, PixelData
    from mmpose.structures import PoseDataSample

    samples = []
    for _ in range(n):
        sample = PoseDataSample()
        sample.gt_fields = PixelData(heatmaps=torch.rand(K, H, W))
        sample.gt_instance_labels = InstanceData(
            keypoint_weights=torch.ones(1, K))
        samples.append(sample)
    return samples


def _run_scai_estimator(model):
    """SCAI's stage 1 with Φ and Γ in the same step (alternate=False), on
    random targets."""
    losses = model(
        torch.rand(2, 3, 64, 48), _heatmap_samples(2, 17, 16, 12), mode='loss')
    return sum(losses.values()), ()


_SCAI_BASE = dict(
    type='TopdownPoseEstimator',
    backbone=dict(
        type='ResNet',
        depth=18,
        num_stages=3,
        strides=(1, 2, 2),
        dilations=(1, 1, 1),
        out_indices=(2, ),
        init_cfg=None),
    head=dict(
        type='HeatmapHead',
        in_channels=256,
        out_channels=17,
        deconv_out_channels=(8, 8),
        deconv_kernel_sizes=(4, 4),
        loss=dict(type='KeypointMSELoss'),
        decoder=dict(
            type='MSRAHeatmap',
            input_size=(48, 64),
            heatmap_size=(12, 16),
            sigma=2)))


def _run_tokenpose_head(head):
    feats = torch.randn(2, 8, 8, 6, requires_grad=True)
    return head.loss((feats, ), _heatmap_samples(2, 5, 8,
                                                 6))['loss_kpt'], (feats, )


def _run_tokenpose_stem(stem):
    x = torch.randn(2, 3, 32, 24, requires_grad=True)
    return stem(x)[0].square().mean(), (x, )


def _run_emsda(attn):
    shapes = torch.tensor([[4, 3], [2, 2]])
    query = torch.randn(2, 5, 16, requires_grad=True)
    value = torch.randn(2, 16, 16, requires_grad=True)
    ref = torch.rand(2, 5, 2, 2, requires_grad=True)
    # at Deformable DETR's init the offsets and weights ignore the query: only
    # value and ref get gradients
    return attn(query, value, ref, shapes).pow(2).sum(), (value, ref)


def _run_poseur_head(head):
    from mmengine.structures import InstanceData
    from mmpose.structures import PoseDataSample

    head.train()
    feats = tuple(
        torch.randn(2, 16, h, w, requires_grad=True)
        for h, w in ((8, 6), (4, 3)))
    samples = []
    for _ in range(2):
        sample = PoseDataSample()
        sample.gt_instance_labels = InstanceData(
            keypoint_labels=torch.rand(1, 14, 2),
            keypoint_weights=torch.ones(1, 14))
        samples.append(sample)
    losses = head.loss(feats, samples)
    return sum(v for k, v in losses.items() if k.startswith('loss')), feats


def _run_dcc(dcc):
    feats = torch.randn(4, 32, requires_grad=True)
    boxes = torch.tensor([[10.0, 20.0, 60.0,
                           120.0]]).repeat(4, 1).requires_grad_(True)
    x_logits, y_logits, kpts, sigma = dcc(feats, boxes, boxes.detach()[:, :2])
    return kpts.mean() + sigma.mean() + x_logits.mean() + y_logits.mean(), (
        feats, boxes)


def _run_coord_mle_loss(loss):
    x_logits = torch.randn(3, 14, 8, requires_grad=True)
    y_logits = torch.randn(3, 14, 10, requires_grad=True)
    sigma = (torch.rand(3, 14) * 0.1).requires_grad_(True)
    targets = torch.rand(3, 14, 2) * 8
    out = loss(x_logits, y_logits, torch.arange(8.0), torch.arange(10.0),
               sigma, targets, torch.ones(3, 14), torch.full((3, ), 64.0))
    return out, (x_logits, y_logits, sigma)


def _run_sine_cc_head(head):
    from mmengine.structures import InstanceData
    from mmpose.structures import PoseDataSample

    samples = []
    for _ in range(3):
        sample = PoseDataSample()
        sample.gt_instance_labels = InstanceData(
            keypoint_labels=torch.rand(1, 14, 2),
            keypoint_weights=torch.ones(1, 14))
        samples.append(sample)
    feats = torch.randn(3, 16, 2, 2, requires_grad=True)
    return head.loss((feats, ), samples)['loss_kpt'], (feats, )


def _run_rtmo_sine_cc_head(head):
    """Two 64x64 images, one and two persons (K=14, random keypoints inside the
    boxes), SimOTA targets."""
    from mmengine.structures import InstanceData
    from mmpose.structures import PoseDataSample

    samples = []
    for boxes in ([[8.0, 4.0, 40.0, 60.0]], [[2.0, 2.0, 30.0, 50.0],
                                             [30.0, 10.0, 62.0, 62.0]]):
        boxes = torch.tensor(boxes)
        n = len(boxes)
        sample = PoseDataSample(metainfo=dict(input_size=(64, 64)))
        kpts = boxes[:, None, :2] + torch.rand(n, 14, 2) * (
            boxes[:, None, 2:] - boxes[:, None, :2])
        sample.gt_instance_labels = InstanceData(
            bboxes=boxes,
            labels=torch.zeros(n, dtype=torch.long),
            keypoints=kpts,
            keypoints_visible=torch.ones(n, 14),
            areas=(boxes[:, 2:] - boxes[:, :2]).prod(-1))
        samples.append(sample)
    feats = (torch.randn(2, 16, 4, 4, requires_grad=True),
             torch.randn(2, 16, 2, 2, requires_grad=True))
    losses = head.loss(feats, samples)
    assert 'loss_mle' in losses
    return sum(v.mean() for k, v in losses.items()
               if k.startswith('loss')), feats


def _run_mean_pose_baseline(model):
    """Mean pose of the bundled COCO annotations placed in two boxes: finite
    (2, 17, 2) image coordinates."""
    from mmengine.structures import InstanceData
    from mmpose.structures import PoseDataSample

    samples = []
    for box in ([[10.0, 20.0, 110.0, 220.0]], [[0.0, 0.0, 48.0, 64.0]]):
        sample = PoseDataSample()
        sample.gt_instances = InstanceData(bboxes=torch.tensor(box))
        samples.append(sample)
    kpts = model(None, samples, mode='tensor')
    assert kpts.shape == (2, 17, 2)
    return kpts.sum(), ()


def _run_efficientnet_lite(backbone):
    x = torch.randn(2, 3, 64, 64, requires_grad=True)
    outs = backbone(x)  # strides 16 and 32: every stage takes part
    return sum(o.square().mean() for o in outs), (x, )


_RTMO_METAINFO = 'configs/_base_/datasets/crowdpose.py'
_RTMO_SINE_CC_HEAD = dict(
    type='RTMOSineCCHead',
    num_keypoints=14,
    featmap_strides=(16, 32),
    head_module_cfg=dict(
        num_classes=1,
        in_channels=256,
        cls_feat_channels=256,
        channels_per_group=36,
        pose_vec_channels=16,
        widen_factor=1 / 32,
        stacked_convs=1),
    assigner=dict(
        type='SimOTAAssigner',
        dynamic_k_indicator='oks',
        oks_calculator=dict(type='PoseOKS', metainfo=_RTMO_METAINFO),
        use_keypoints_for_center=True),
    prior_generator=dict(
        type='MlvlPointGenerator', centralize_points=True, strides=[16, 32]),
    dcc_cfg=dict(
        in_channels=16,
        feat_channels=8,
        num_bins=(12, 16),
        spe_channels=8,
        gau_cfg=dict(s=8, pos_enc='add')),
    overlaps_power=0.5,
    loss_cls=dict(
        type='VariFocalLoss', reduction='sum', use_target_weight=True),
    loss_bbox=dict(
        type='IoULoss',
        mode='square',
        eps=1e-16,
        reduction='sum',
        loss_weight=5.0),
    loss_oks=dict(
        type='OKSLoss',
        reduction='none',
        metainfo=_RTMO_METAINFO,
        loss_weight=30.0),
    loss_vis=dict(type='BCELoss', use_target_weight=True, reduction='mean'),
    loss_mle=dict(type='CoordMLELoss'))


def _run_tokenpose_image_input(backbone):
    x = torch.randn(2, 3, 8, 6, requires_grad=True)
    return backbone(x)[0].square().mean(), (x, )


MODEL_CASES = {
    'PoseurHead': (dict(
        type='PoseurHead',
        in_channels=16,
        embed_dims=16,
        num_heads=2,
        num_levels=2,
        num_points=2,
        num_decoder_layers=2,
        feedforward_channels=32,
        metainfo=dict(from_file='configs/_base_/datasets/crowdpose.py')),
                   _run_poseur_head),
    'EMSDA': (dict(
        type='EMSDA', embed_dims=16, num_heads=4, num_levels=2,
        num_points=2), _run_emsda),
    'RLEFlowLoss': (dict(type='RLEFlowLoss',
                         use_target_weight=True), _run_rle_flow_loss),
    'LaplaceIntegralScorer': (dict(type='LaplaceIntegralScorer'), _run_scorer),
    'Float32RLEHead': (dict(
        type='Float32RLEHead',
        in_channels=8,
        num_joints=5,
        loss=dict(type='RLEFlowLoss', use_target_weight=True),
        decoder=dict(type='RegressionLabel',
                     input_size=(48, 64))), _run_float32_rle_head),
    'SCAIPredictionNet': (dict(
        type='SCAIPredictionNet',
        in_channels=6,
        out_channels=2,
        feat_channels=5,
        width=8,
        num_layers=3), _run_scai_net(6, 5)),
    'SCAIFeedbackNet': (dict(
        type='SCAIFeedbackNet',
        in_channels=6,
        out_channels=2,
        feat_channels=5,
        width=8,
        num_layers=3), _run_scai_net(6, 5)),
    # zero_init_last only applies in init_weights (not called here); the module
    # is the same either way
    'SCAICorrectionNet':
    (dict(type='SCAICorrectionNet', in_channels=4, out_channels=2,
          width=8), _run_scai_net(4, 0)),
    'SCAIHeatmapLoss': (dict(type='SCAIHeatmapLoss'), _run_scai_heatmap_loss),
    'SCAICorrectionLoss':
    (dict(type='SCAICorrectionLoss'), _run_scai_correction_loss),
    'SCAIPoseEstimator': (dict(
        type='SCAIPoseEstimator',
        base_model=_SCAI_BASE,
        phi=dict(type='SCAIPredictionNet', width=8, num_layers=3),
        gamma=dict(type='SCAIFeedbackNet', width=8, num_layers=3),
        correction=dict(type='SCAICorrectionNet', width=8, num_layers=3),
        train_cfg=dict(stage='phi_gamma',
                       alternate=False)), _run_scai_estimator),
    'TokenPoseHead': (dict(
        type='TokenPoseHead',
        in_channels=8,
        out_channels=5,
        patch_size=(2, 2),
        heatmap_size=(6, 8),
        embed_dims=16,
        depth=2,
        num_heads=2,
        hidden_dims=32), _run_tokenpose_head),
    'TokenPoseLHead': (dict(
        type='TokenPoseLHead',
        in_channels=8,
        out_channels=5,
        patch_size=(2, 2),
        heatmap_size=(6, 8),
        embed_dims=16,
        depth=(1, 1),
        num_heads=2,
        hidden_dims=32), _run_tokenpose_head),
    'TokenPoseImageInput':
    (dict(type='TokenPoseImageInput'), _run_tokenpose_image_input),
    'TokenPoseStem': (dict(
        type='TokenPoseStem', stem_channels=8, out_channels=16,
        num_blocks=2), _run_tokenpose_stem),
    'DynamicCoordinateClassifier': (dict(
        type='DynamicCoordinateClassifier',
        in_channels=32,
        num_keypoints=17,
        feat_channels=16,
        num_bins=(12, 16),
        spe_channels=8,
        gau_cfg=dict(s=8, pos_enc='add')), _run_dcc),
    'CoordMLELoss': (dict(type='CoordMLELoss'), _run_coord_mle_loss),
    'SineCoordClsHead': (dict(
        type='SineCoordClsHead',
        in_channels=16,
        num_keypoints=14,
        input_size=(16, 24),
        in_featuremap_size=(2, 2),
        feat_channels=16,
        spe_channels=8,
        gau_cfg=dict(s=8, pos_enc='add')), _run_sine_cc_head),
    'RTMOSineCCHead': (_RTMO_SINE_CC_HEAD, _run_rtmo_sine_cc_head),
    'EfficientNetLite': (dict(type='EfficientNetLite',
                              out_indices=(3, 6)), _run_efficientnet_lite),
    'MeanPoseBaseline': (dict(
        type='MeanPoseBaseline', ann_file='data/fixtures/coco/test_coco.json'),
                         _run_mean_pose_baseline),
}
CODEC_CASES = {
    'LaplaceRegressionLabel':
    dict(type='LaplaceRegressionLabel', input_size=(192, 256)),
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
    # nothing to learn (MeanPoseBaseline): then there must be nothing to train
    if not scalar.requires_grad:
        assert not grad_inputs and not any(p.requires_grad
                                           for p in module.parameters()), name
        return
    scalar.backward()
    for t in grad_inputs:
        assert t.grad is not None and t.grad.abs().sum() > 0
    for pname, p in module.named_parameters():
        if p.requires_grad:
            assert p.grad is not None, f'{name}.{pname} got no gradient'
            assert torch.isfinite(
                p.grad).all(), f'{name}.{pname} has a non-finite gradient'


@pytest.mark.parametrize('name', sorted(CODEC_CASES))
def test_codecs_build(name):
    codec = KEYPOINT_CODECS.build(CODEC_CASES[name])
    assert type(codec).__name__ == name
