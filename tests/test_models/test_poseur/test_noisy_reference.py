"""Noisy reference groups: how many points move, where, and with which noise."""
import pytest
import torch

from mmpose_ext.models.poseur import NoisyReferenceSampler


def _moved(points, groups, G):
    B, K, _ = points.shape
    return (groups.view(B, G, K, 2) != points[:, None]).any(-1)  # (B, G, K)


def test_official_mode_moves_g_times_n_slots_shared_by_the_batch():
    sampler = NoisyReferenceSampler(num_groups=3, num_noisy_points=4, mode='official')
    points = torch.rand(5, 17, 2) * 0.5 + 0.25
    groups = sampler(points)
    assert groups.shape == (5, 51, 2)
    moved = _moved(points, groups, 3)
    assert (moved.flatten(1).sum(-1) == 12).all()  # 12 of the 51 extra slots, per instance
    assert (moved == moved[:1]).all()  # the same slots for the whole batch
    assert groups.min() >= -0.7 and groups.max() <= 1.7


def test_per_group_mode_moves_exactly_n_per_group():
    sampler = NoisyReferenceSampler(num_groups=4, num_noisy_points=3, mode='per_group')
    points = torch.rand(6, 14, 2) * 0.5 + 0.25
    moved = _moved(points, sampler(points), 4)
    assert (moved.sum(-1) == 3).all()
    assert not (moved == moved[:1]).all()  # drawn per instance


def test_noise_covariance_and_clipping():
    sampler = NoisyReferenceSampler(num_groups=1, num_noisy_points=17, noise_cov=0.2,
                                    offset_clip=100.0, point_range=(-100., 100.), mode='per_group')
    points = torch.full((4000, 17, 2), 0.5)
    offsets = sampler(points) - 0.5
    assert abs(offsets.var().item() - 0.2) < 0.01
    assert abs(offsets.mean().item()) < 0.01
    clipped = NoisyReferenceSampler(1, 17, noise_cov=4.0, offset_clip=1.0, point_range=(-0.7, 1.7),
                                    mode='per_group')(points)
    assert (clipped - 0.5).abs().max() <= 1.0 + 1e-6
    assert clipped.min() >= -0.7


def test_no_groups_and_bad_arguments():
    assert NoisyReferenceSampler(num_groups=0)(torch.rand(2, 17, 2)).shape == (2, 0, 2)
    with pytest.raises(ValueError):
        NoisyReferenceSampler(mode='sometimes')
