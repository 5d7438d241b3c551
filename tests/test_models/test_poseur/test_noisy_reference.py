"""Noisy reference groups: how many points move, where, and with which noise;
the noise differs per rank."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import set_random_seed

from mmpose_ext.models.poseur import NoisyReferenceSampler

CONFIG_DIR = Path(__file__).resolve().parents[3] / 'configs'


def _moved(points, groups, G):
    B, K, _ = points.shape
    return (groups.view(B, G, K, 2) != points[:, None]).any(-1)  # (B, G, K)


def test_official_mode_moves_g_times_n_slots_shared_by_the_batch():
    sampler = NoisyReferenceSampler(
        num_groups=3, num_noisy_points=4, mode='official')
    points = torch.rand(5, 17, 2) * 0.5 + 0.25
    groups = sampler(points)
    assert groups.shape == (5, 51, 2)
    moved = _moved(points, groups, 3)
    # 12 of the 51 extra slots, per instance
    assert (moved.flatten(1).sum(-1) == 12).all()
    assert (moved == moved[:1]).all()  # the same slots for the whole batch
    assert groups.min() >= -0.7 and groups.max() <= 1.7


def test_per_group_mode_moves_exactly_n_per_group():
    sampler = NoisyReferenceSampler(
        num_groups=4, num_noisy_points=3, mode='per_group')
    points = torch.rand(6, 14, 2) * 0.5 + 0.25
    moved = _moved(points, sampler(points), 4)
    assert (moved.sum(-1) == 3).all()
    assert not (moved == moved[:1]).all()  # drawn per instance


def test_noise_covariance_and_clipping():
    sampler = NoisyReferenceSampler(
        num_groups=1,
        num_noisy_points=17,
        noise_cov=0.2,
        offset_clip=100.0,
        point_range=(-100., 100.),
        mode='per_group')
    points = torch.full((4000, 17, 2), 0.5)
    offsets = sampler(points) - 0.5
    assert abs(offsets.var().item() - 0.2) < 0.01
    assert abs(offsets.mean().item()) < 0.01
    clipped = NoisyReferenceSampler(
        1,
        17,
        noise_cov=4.0,
        offset_clip=1.0,
        point_range=(-0.7, 1.7),
        mode='per_group')(
            points)
    assert (clipped - 0.5).abs().max() <= 1.0 + 1e-6
    assert clipped.min() >= -0.7


def test_no_groups_and_bad_arguments():
    assert NoisyReferenceSampler(num_groups=0)(torch.rand(2, 17,
                                                          2)).shape == (2, 0,
                                                                        2)
    with pytest.raises(ValueError):
        NoisyReferenceSampler(mode='sometimes')


@pytest.mark.parametrize('mode', ['official', 'per_group'])
def test_noise_comes_from_torch_global_rng(mode):
    """The noise (slots and offsets) is drawn from torch's global generator, so
    MMEngine's seed reaches it:

    with ``randomness.diff_rank_seed`` every rank seeds ``seed + rank`` and
    draws its own noise.
    """
    sampler = NoisyReferenceSampler(
        num_groups=3, num_noisy_points=4, mode=mode)
    points = torch.rand(2, 17, 2)

    def draw(seed, diff_rank_seed=False):
        # MMEngine's, as the Runner calls it
        set_random_seed(seed, diff_rank_seed=diff_rank_seed)
        return sampler(points)

    # rank 0 (no process group): seed + 0
    assert torch.equal(draw(3, diff_rank_seed=True), draw(3))
    # rank 1 would get seed 4: other noise
    assert not torch.equal(draw(3), draw(4))


POSEUR_CONFIGS = sorted([
    *CONFIG_DIR.glob('poseur/*.py'), *CONFIG_DIR.glob('synthetic/poseur_*.py'),
    *CONFIG_DIR.glob('demo/poseur_*.py')
])


def test_every_poseur_config_draws_noise_per_rank():
    """Without ``diff_rank_seed`` every GPU draws the same noisy groups: their
    diversity does not grow with the GPU count."""
    assert len(POSEUR_CONFIGS) >= 6
    for path in POSEUR_CONFIGS:
        cfg = Config.fromfile(str(path))
        assert cfg.model.head.type == 'PoseurHead', path
        assert cfg.get('randomness', {}).get(
            'diff_rank_seed') is True, f'{path} does not set diff_rank_seed'
