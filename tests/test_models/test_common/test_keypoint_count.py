"""Heads take K from the dataset metainfo (COCO 17, CrowdPose 14), and a K that
disagrees with it is a clear error, for every head of ours that has a keypoint
count."""
import pytest
from mmpose.registry import MODELS

from mmpose_ext.models.common.keypoint_count import resolve_num_keypoints

COCO = dict(from_file='configs/_base_/datasets/coco.py')
CROWDPOSE = dict(from_file='configs/_base_/datasets/crowdpose.py')

# type -> (config without K, attribute holding K)
HEADS = {
    'TokenPoseHead': (dict(
        in_channels=8,
        patch_size=(2, 2),
        heatmap_size=(6, 8),
        embed_dims=16,
        depth=1,
        num_heads=2), 'out_channels'),
    'SineCoordClsHead': (dict(
        in_channels=8,
        input_size=(24, 32),
        in_featuremap_size=(3, 4),
        feat_channels=16,
        spe_channels=16,
        gau_cfg=None), 'num_keypoints'),
    'PoseurHead': (dict(
        in_channels=16,
        num_levels=1,
        embed_dims=16,
        num_heads=2,
        num_points=1,
        num_decoder_layers=1,
        feedforward_channels=16,
        decoder=dict(type='RegressionLabel',
                     input_size=(24, 32))), 'num_keypoints'),
}


def test_resolve_num_keypoints():
    assert resolve_num_keypoints(None, COCO) == 17
    assert resolve_num_keypoints(None, CROWDPOSE) == 14
    assert resolve_num_keypoints(14, CROWDPOSE) == 14
    assert resolve_num_keypoints(5, None) == 5
    with pytest.raises(
            ValueError,
            match='needs the number of keypoints or a dataset metainfo'):
        resolve_num_keypoints(None, None, 'MyHead')
    with pytest.raises(
            ValueError,
            match='MyHead: 17 keypoints configured but the metainfo has 14'):
        resolve_num_keypoints(17, CROWDPOSE, 'MyHead')


@pytest.mark.parametrize('head_type', sorted(HEADS))
def test_heads_read_k_from_metainfo(head_type):
    cfg, k_arg = HEADS[head_type]
    for meta, k in ((COCO, 17), (CROWDPOSE, 14)):
        head = MODELS.build(dict(type=head_type, metainfo=meta, **cfg))
        assert getattr(head, 'num_keypoints', None) == k or getattr(
            head, 'out_channels', None) == k
    with pytest.raises(
            ValueError,
            match='17 keypoints configured but the metainfo has 14'):
        MODELS.build(
            dict(type=head_type, metainfo=CROWDPOSE, **{k_arg: 17}, **cfg))
    with pytest.raises(ValueError, match='needs the number of keypoints'):
        MODELS.build(dict(type=head_type, **cfg))
