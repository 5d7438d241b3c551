"""Kinematic chains: presets (COCO with a virtual neck, CrowdPose), user-
defined chains, the virtual node's heatmap and weights, and the errors bad
configurations get."""
import pytest
import torch

from mmpose_ext.models.scai.chains import (KinematicChains, heatmap_argmax,
                                           render_gaussian)

COCO_NAMES = [
    'nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear', 'left_shoulder',
    'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist',
    'left_hip', 'right_hip', 'left_knee', 'right_knee', 'left_ankle',
    'right_ankle'
]


def test_coco_preset_six_chains_from_virtual_neck():
    chains = KinematicChains.from_config('coco', num_keypoints=17)
    assert chains.keypoint_names == COCO_NAMES
    neck = 17  # the one virtual node comes after the 17 keypoints
    assert chains.index.tolist() == [
        [neck, 5, 7, 9],
        [neck, 6, 8, 10],  # shoulder → elbow → wrist
        [neck, 11, 13, 15],
        [neck, 12, 14, 16],  # hip → knee → ankle
        [neck, 0, 1, 3],
        [neck, 0, 2, 4],  # nose → eye → ear
    ]
    assert chains.distal == [9, 10, 15, 16, 3, 4]
    assert chains.virtual_members == [[5, 6]]


def test_crowdpose_preset_uses_its_real_neck():
    chains = KinematicChains.from_config('crowdpose', num_keypoints=14)
    # CrowdPose: 0/1 shoulders, 2/3 elbows, 4/5 wrists, 6/7 hips, 8/9 knees,
    # 10/11 ankles, 12 top_head, 13 neck
    assert chains.index.tolist() == [[13, 0, 2, 4], [13, 1, 3, 5],
                                     [13, 6, 8, 10], [13, 7, 9, 11]]
    assert chains.virtual_names == []


def test_user_defined_chains_by_index_and_name():
    chains = KinematicChains([[0, 1, 2, 3], ['pelvis', 4, 5, 6]],
                             num_keypoints=7,
                             virtual_nodes=dict(pelvis=[0, 1]))
    assert chains.index.tolist() == [[0, 1, 2, 3], [7, 4, 5, 6]]
    named = KinematicChains.from_config(
        dict(
            chains=[['mid_hip', 'left_hip', 'left_knee', 'left_ankle']],
            virtual_nodes=dict(mid_hip=['left_hip', 'right_hip']),
            dataset_info='configs/_base_/datasets/coco.py'),
        num_keypoints=17)
    assert named.index.tolist() == [[17, 11, 13, 15]]


@pytest.mark.parametrize('kwargs, match', [
    (dict(chains=[[0, 1, 2]], num_keypoints=5), '4 nodes'),
    (dict(chains=[[0, 1, 2, 3], [4, 1, 2, 3]],
          num_keypoints=5), 'same keypoint'),
    (dict(chains=[[0, 1, 2, 7]], num_keypoints=5), 'outside'),
    (dict(
        chains=[[0, 1, 2, 'v']], num_keypoints=5,
        virtual_nodes=dict(v=[0, 1])), 'virtual node'),
    (dict(chains=[[0, 1, 2, 'elbow']], num_keypoints=5), 'unknown keypoint'),
    (dict(chains=[[0, 1, 2, 3]], num_keypoints=5,
          root_mode='max'), 'root_mode'),
])
def test_bad_chain_configs_get_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        KinematicChains(**kwargs)


def test_keypoint_count_mismatch_is_an_error():
    with pytest.raises(ValueError, match='predicts 14'):
        KinematicChains.from_config('coco', num_keypoints=14)
    chains = KinematicChains.from_config('crowdpose', num_keypoints=14)
    with pytest.raises(ValueError, match='K=14'):
        chains.node_heatmaps(torch.zeros(1, 17, 8, 8))


def test_virtual_node_heatmap_is_a_gaussian_at_the_members_midpoint():
    chains = KinematicChains([['v', 0, 1, 2]],
                             num_keypoints=3,
                             virtual_nodes=dict(v=[0, 1]),
                             root_sigma=1.5)
    heatmaps = torch.zeros(2, 3, 12, 16)
    heatmaps[0, 0, 4, 2] = 1  # keypoint 0 at (x=2, y=4)
    heatmaps[0, 1, 8, 10] = 1  # keypoint 1 at (x=10, y=8) → midpoint (6, 6)
    heatmaps[1, 0, 0, 0] = heatmaps[1, 1, 0, 1] = 1  # midpoint (0.5, 0)
    nodes = chains.node_heatmaps(heatmaps)
    assert nodes.shape == (2, 4, 12, 16)
    assert torch.equal(nodes[:, :3], heatmaps)
    ys, xs = torch.meshgrid(
        torch.arange(12.), torch.arange(16.), indexing='ij')
    expected0 = torch.exp(-((xs - 6)**2 + (ys - 6)**2) / (2 * 1.5**2))
    expected1 = torch.exp(-((xs - 0.5)**2 + ys**2) / (2 * 1.5**2))
    torch.testing.assert_close(nodes[0, 3], expected0)
    torch.testing.assert_close(nodes[1, 3], expected1)
    assert nodes[0, 3, 6, 6] == 1.0


def test_virtual_node_mean_mode_and_weights():
    chains = KinematicChains([['v', 0, 1, 2]],
                             num_keypoints=3,
                             virtual_nodes=dict(v=[0, 1]),
                             root_mode='mean')
    heatmaps = torch.rand(2, 3, 5, 4)
    nodes = chains.node_heatmaps(heatmaps)
    torch.testing.assert_close(nodes[:, 3],
                               (heatmaps[:, 0] + heatmaps[:, 1]) / 2)
    weights = torch.tensor([[1., 0., 1.], [1., 1., 0.]])
    assert chains.node_weights(weights).tolist() == [[1, 0, 1, 0],
                                                     [1, 1, 0, 1]]


def test_gather_is_chain_major():
    chains = KinematicChains([[0, 1, 2, 3], [4, 5, 6, 7]], num_keypoints=8)
    nodes = torch.arange(8.).view(1, 8, 1, 1).expand(2, 8, 3, 3)
    assert chains.gather(nodes, 'ABC')[0, :, 0,
                                       0].tolist() == [0, 1, 2, 4, 5, 6]
    assert chains.gather(nodes, 'BC')[0, :, 0, 0].tolist() == [1, 2, 5, 6]
    assert chains.gather(nodes, 'D')[1, :, 0, 0].tolist() == [3, 7]


def test_argmax_and_gaussian_helpers():
    h = torch.zeros(3, 7, 9)
    h[1, 5, 8] = 2
    assert heatmap_argmax(h)[1].tolist() == [8, 5]
    g = render_gaussian(torch.tensor([[8., 5.]]), (7, 9), sigma=2.0)
    assert heatmap_argmax(g)[0].tolist() == [8, 5] and g.max() == 1.0
