"""Φ, Γ and C: fully convolutional, shapes for K=17 (6 chains) and K=14 (4
chains), the paper's depths by default, image features resized to the heatmap,
C starting at "no correction"."""
import pytest
import torch
from mmpose.registry import MODELS
from torch import nn


def _convs(net):
    return [m for m in net.modules() if isinstance(m, nn.Conv2d)]


@pytest.mark.parametrize('num_chains', [6, 4], ids=['coco-17', 'crowdpose-14'])
def test_shapes_and_default_depths(num_chains):
    phi = MODELS.build(
        dict(
            type='SCAIPredictionNet',
            in_channels=3 * num_chains,
            out_channels=num_chains,
            feat_channels=20,
            width=8,
            feat_proj_channels=4))
    gamma = MODELS.build(
        dict(
            type='SCAIFeedbackNet',
            in_channels=3 * num_chains,
            out_channels=num_chains,
            feat_channels=20,
            width=8,
            feat_proj_channels=4))
    corr = MODELS.build(
        dict(
            type='SCAICorrectionNet',
            in_channels=2 * num_chains,
            out_channels=num_chains,
            width=8))
    # the paper's depths: 13, 13, 7 convolutions (+ the 1×1 feature projection
    # of Φ and Γ)
    assert len(_convs(phi)) == 13 + 1 and len(_convs(gamma)) == 13 + 1 and len(
        _convs(corr)) == 7
    heatmaps = torch.rand(2, 3 * num_chains, 20, 15)
    # lower resolution than the heatmaps: resized inside
    feats = torch.rand(2, 20, 5, 4)
    assert phi(heatmaps, feats).shape == (2, num_chains, 20, 15)
    assert gamma(heatmaps, feats).shape == (2, num_chains, 20, 15)
    assert corr(torch.rand(2, 2 * num_chains, 20,
                           15)).shape == (2, num_chains, 20, 15)
    # fully convolutional: any heatmap size
    assert phi(torch.rand(1, 3 * num_chains, 9, 7),
               feats[:1]).shape == (1, num_chains, 9, 7)


def test_depth_width_kernel_configurable():
    net = MODELS.build(
        dict(
            type='SCAIPredictionNet',
            in_channels=3,
            out_channels=1,
            num_layers=4,
            width=5,
            kernel_size=5,
            norm_cfg=None))
    convs = _convs(net)
    assert len(convs) == 4 and all(c.kernel_size == (5, 5) for c in convs)
    assert [c.out_channels for c in convs] == [5, 5, 5, 1]
    assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    with pytest.raises(ValueError, match='num_layers'):
        MODELS.build(
            dict(
                type='SCAIFeedbackNet',
                in_channels=3,
                out_channels=1,
                num_layers=1))
    with pytest.raises(ValueError, match='odd'):
        MODELS.build(
            dict(
                type='SCAIFeedbackNet',
                in_channels=3,
                out_channels=1,
                kernel_size=4))


def test_correction_starts_as_no_change():
    corr = MODELS.build(
        dict(type='SCAICorrectionNet', in_channels=4, out_channels=2, width=8))
    corr.init_weights()
    assert torch.equal(corr(torch.rand(3, 4, 6, 5)), torch.zeros(3, 2, 6, 5))


def test_input_checks():
    phi = MODELS.build(
        dict(
            type='SCAIPredictionNet',
            in_channels=6,
            out_channels=2,
            feat_channels=3,
            width=4))
    with pytest.raises(ValueError, match='expected 6 heatmap channels'):
        phi(torch.rand(1, 5, 8, 8), torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match='needs image features'):
        phi(torch.rand(1, 6, 8, 8))
